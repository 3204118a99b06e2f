"""Running statistics and the observation and reward normalisation of SPEC 3.

The running mean and variance follow gymnasium's ``RunningMeanStd``: initial
count 1e-4, mean 0, var 1, and a batch is merged with the parallel formula of
Chan, Golub & LeVeque (1979). ``var`` is the population variance (ddof 0) of
everything seen, apart from the tiny prior count.
"""

from dataclasses import dataclass

import numpy as np

from .checks import check_normalize_obs, check_rms_update, check_scale_reward, checked

INIT_COUNT = 1e-4
NORM_EPS = 1e-8
OBS_CLIP = 10.0
REWARD_CLIP = 10.0


@dataclass
class RunningMeanStd:
    mean: np.ndarray
    var: np.ndarray
    count: float


def rms_init(shape=()):
    return RunningMeanStd(np.zeros(shape), np.ones(shape), INIT_COUNT)


def rms_update(rms, x):
    """Merge a batch ``x`` of shape (n, *shape) into ``rms``; returns a new RunningMeanStd.

    delta = mean_b - mean;  n = count + count_b
    mean' = mean + delta * count_b / n
    var'  = (var * count + var_b * count_b + delta^2 * count * count_b / n) / n
    """
    batch_count = x.shape[0]
    batch_mean = x.sum(axis=0) / batch_count  # np.mean, the same operations
    batch_var = np.square(x - batch_mean).sum(axis=0) / batch_count  # np.var with ddof 0, the same operations
    delta = batch_mean - rms.mean
    total = rms.count + batch_count
    mean = rms.mean + delta * batch_count / total
    m2 = rms.var * rms.count + batch_var * batch_count + delta * delta * rms.count * batch_count / total
    return RunningMeanStd(mean, m2 / total, total)


rms_update = checked(rms_update, check_rms_update)


def normalize_obs(obs, rms):
    """``clip((obs - mean) / sqrt(var + 1e-8), -10, 10)``; obs (..., D)."""
    return np.clip((obs - rms.mean) / np.sqrt(rms.var + NORM_EPS), -OBS_CLIP, OBS_CLIP)


normalize_obs = checked(normalize_obs, check_normalize_obs)


@dataclass
class RewardScaler:
    """Per-env discounted return ``G`` and the running variance of G."""
    returns: np.ndarray  # (N,)
    rms: RunningMeanStd


def reward_scaler_init(num_envs):
    return RewardScaler(np.zeros(num_envs), rms_init())


def scale_reward(scaler, rewards, dones, gamma):
    """Scale one step of rewards (N,) from N envs; returns ``(scaled, new_scaler)``.

    G_t = r_t + gamma * G_{t-1};  update var_G with the N values of G_t;
    scaled = clip(r_t / sqrt(var_G + 1e-8), -10, 10);
    then G <- 0 for the envs whose episode ended (``dones``), as a new one starts.
    """
    g = rewards + gamma * scaler.returns
    rms = rms_update.unchecked(scaler.rms, g)
    scaled = np.clip(rewards / np.sqrt(rms.var + NORM_EPS), -REWARD_CLIP, REWARD_CLIP)
    return scaled, RewardScaler(np.where(dones, 0.0, g), rms)


scale_reward = checked(scale_reward, check_scale_reward)
