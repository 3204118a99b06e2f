"""Everything a run carries from one iteration to the next, and its checkpoint form.

:class:`TrainState` is what a checkpoint holds (SPEC 8.3); run/checkpoint.py turns
it into the plain named arrays of a ``checkpoint.npz`` and back.
"""

from dataclasses import dataclass

import numpy as np

from ppo_ref.core.agent import init_params
from ppo_ref.core.normalization import RewardScaler, RunningMeanStd, reward_scaler_init, rms_init, rms_update
from ppo_ref.core.optim import adam_init
from ppo_ref.finite import check_finite

RNG_NAMES = ("init", "policy", "minibatch", "env")


@dataclass
class TrainState:
    """Everything a run needs to continue exactly where it stopped."""
    params: dict
    opt: dict  # Adam state
    obs_rms: RunningMeanStd
    reward_scaler: RewardScaler
    rngs: dict  # name -> numpy.random.Generator
    next_obs: np.ndarray  # (N, D) raw observations the agent acts on next
    episode_return: np.ndarray  # (N,) unscaled return of each env's episode so far
    episode_length: np.ndarray  # (N,)
    iteration: int = 0  # completed iterations
    global_step: int = 0
    wall_time: float = 0.0


def make_rngs(seed):
    """Independent generators for initialisation, policy sampling, minibatch order
    and env seeds, all derived from the one seed (SPEC 8.1)."""
    children = np.random.SeedSequence(seed).spawn(len(RNG_NAMES))
    return {name: np.random.Generator(np.random.PCG64(ss)) for name, ss in zip(RNG_NAMES, children)}


def init_state(cfg, envs):
    """Fresh state: initial parameters, reset envs (seeded from the env generator)."""
    rngs = make_rngs(cfg.seed)
    obs_dim = envs.single_observation_space.shape[0]
    act_dim = envs.single_action_space.shape[0]
    # Drawn in float64 (SPEC 1), then rounded to the run's dtype.
    params = {k: p.astype(cfg.dtype, copy=False) for k, p in init_params(rngs["init"], obs_dim, act_dim).items()}
    env_seeds = [int(s) for s in rngs["env"].integers(0, 2**31 - 1, size=cfg.num_envs)]
    raw_obs, _ = envs.reset(seed=env_seeds)
    check_finite("observation", raw_obs)
    return TrainState(
        params=params,
        opt=adam_init(params),
        obs_rms=rms_update(rms_init((obs_dim,)), raw_obs),
        reward_scaler=reward_scaler_init(cfg.num_envs),
        rngs=rngs,
        next_obs=raw_obs,
        episode_return=np.zeros(cfg.num_envs),
        episode_length=np.zeros(cfg.num_envs, dtype=np.int64),
    )
