"""core.normalization, core.distributions.sample and log_prob without argument checks, with
a one-row running-statistics merge and the normalised observation written into
a given array: the same operations on the same numbers."""

import numpy as np

from ppo_ref.core.distributions import LOG_2PI
from ppo_ref.core.normalization import NORM_EPS, OBS_CLIP, REWARD_CLIP, RewardScaler, RunningMeanStd


def rms_update(rms, x):
    """core.normalization.rms_update without argument checks."""
    batch_count = x.shape[0]
    if batch_count == 1:
        # One sample (one env, every step): batch mean x[0] and batch variance 0.
        # The general formula with the operations that are exact no-ops for them
        # left out (/ 1, * 1, + 0 * 1): the same numbers, a third of the operations.
        delta = x[0] - rms.mean
        total = rms.count + 1
        mean = rms.mean + delta / total
        m2 = rms.var * rms.count + delta * delta * rms.count / total
        return RunningMeanStd(mean, m2 / total, total)
    # np.mean and np.var (ddof 0) spelled out: the same operations in the same
    # order, without their per-call overhead.
    batch_mean = x.sum(axis=0) / batch_count
    diff = x - batch_mean
    batch_var = np.square(diff).sum(axis=0) / batch_count
    delta = batch_mean - rms.mean
    total = rms.count + batch_count
    mean = rms.mean + delta * batch_count / total
    m2 = rms.var * rms.count + batch_var * batch_count + delta * delta * rms.count * batch_count / total
    return RunningMeanStd(mean, m2 / total, total)


def normalize_obs(obs, rms, out=None):
    """core.normalization.normalize_obs, written into ``out`` when given."""
    return np.clip((obs - rms.mean) / np.sqrt(rms.var + NORM_EPS), -OBS_CLIP, OBS_CLIP, out=out)


def scale_reward(scaler, rewards, dones, gamma):
    """core.normalization.scale_reward without argument checks."""
    g = rewards + gamma * scaler.returns
    rms = rms_update(scaler.rms, g)
    scaled = np.clip(rewards / np.sqrt(rms.var + NORM_EPS), -REWARD_CLIP, REWARD_CLIP)
    return scaled, RewardScaler(np.where(dones, 0.0, g), rms)


def sample(rng, mu, log_std):
    """core.distributions.sample without argument checks."""
    return mu + np.exp(log_std) * rng.standard_normal(mu.shape).astype(mu.dtype)


def log_prob(a, mu, log_std):
    """core.distributions.log_prob without argument checks."""
    var = np.exp(2.0 * log_std)
    return np.sum(-((a - mu) ** 2) / (2.0 * var) - log_std - 0.5 * LOG_2PI, axis=-1)
