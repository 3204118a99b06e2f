"""Everything a run carries from one iteration to the next, and its checkpoint form.

:class:`TrainState` is what a checkpoint holds (SPEC 8); :func:`state_to_arrays`
and :func:`state_from_arrays` turn it into the plain named arrays of a
``checkpoint.npz`` and back.
"""

from dataclasses import dataclass

import numpy as np

from ppo_ref.run import checkpoint as ckpt
from ppo_ref.core.checks import check_finite
from ppo_ref.core.agent import init_params
from ppo_ref.config import Config
from ppo_ref.core.normalization import RewardScaler, RunningMeanStd, reward_scaler_init, rms_init, rms_update_unchecked
from ppo_ref.core.optim import adam_init

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
    and env seeds, all derived from the one seed."""
    children = np.random.SeedSequence(seed).spawn(len(RNG_NAMES))
    return {name: np.random.Generator(np.random.PCG64(ss)) for name, ss in zip(RNG_NAMES, children)}


def init_state(cfg, envs):
    """Fresh state: initial parameters, reset envs (seeded from the env generator)."""
    rngs = make_rngs(cfg.seed)
    obs_dim = envs.single_observation_space.shape[0]
    act_dim = envs.single_action_space.shape[0]
    params = init_params(rngs["init"], obs_dim, act_dim)
    env_seeds = [int(s) for s in rngs["env"].integers(0, 2**31 - 1, size=cfg.num_envs)]
    raw_obs, _ = envs.reset(seed=env_seeds)
    check_finite("observation", raw_obs, 0)
    return TrainState(
        params=params,
        opt=adam_init(params),
        obs_rms=rms_update_unchecked(rms_init((obs_dim,)), raw_obs),
        reward_scaler=reward_scaler_init(cfg.num_envs),
        rngs=rngs,
        next_obs=raw_obs,
        episode_return=np.zeros(cfg.num_envs),
        episode_length=np.zeros(cfg.num_envs, dtype=np.int64),
    )


def state_to_arrays(cfg, state, sim_states):
    """Flatten a TrainState (and each env's simulator state) into checkpoint arrays."""
    arrays = {
        "config": ckpt.json_array(cfg.to_dict()),
        "iteration": np.array(state.iteration),
        "global_step": np.array(state.global_step),
        "wall_time": np.array(state.wall_time),
        "adam/t": np.array(state.opt["t"]),
        "obs_rms/mean": state.obs_rms.mean,
        "obs_rms/var": state.obs_rms.var,
        "obs_rms/count": np.array(state.obs_rms.count),
        "ret_rms/mean": state.reward_scaler.rms.mean,
        "ret_rms/var": state.reward_scaler.rms.var,
        "ret_rms/count": np.array(state.reward_scaler.rms.count),
        "ret_rms/returns": state.reward_scaler.returns,
        "envs/next_obs": state.next_obs,
        "envs/episode_return": state.episode_return,
        "envs/episode_length": state.episode_length,
        "envs/has_sim_state": np.array(sim_states is not None),
    }
    arrays.update(ckpt.prefixed("params", state.params))
    arrays.update(ckpt.prefixed("adam/m", state.opt["m"]))
    arrays.update(ckpt.prefixed("adam/v", state.opt["v"]))
    arrays.update({f"rng/{k}": ckpt.json_array(g.bit_generator.state) for k, g in state.rngs.items()})
    for i, sim in enumerate(sim_states or ()):
        arrays.update(ckpt.prefixed(f"envs/{i}", sim))
    return arrays


def state_from_arrays(arrays):
    """The inverse of :func:`state_to_arrays`: (config, TrainState, sim_states or None)."""
    cfg = Config(**ckpt.from_json_array(arrays["config"]))
    rngs = {}
    for name in RNG_NAMES:
        g = np.random.Generator(np.random.PCG64())
        g.bit_generator.state = ckpt.from_json_array(arrays[f"rng/{name}"])
        rngs[name] = g
    state = TrainState(
        params=ckpt.subdict(arrays, "params"),
        opt={"m": ckpt.subdict(arrays, "adam/m"), "v": ckpt.subdict(arrays, "adam/v"), "t": int(arrays["adam/t"])},
        obs_rms=RunningMeanStd(arrays["obs_rms/mean"], arrays["obs_rms/var"], float(arrays["obs_rms/count"])),
        reward_scaler=RewardScaler(
            arrays["ret_rms/returns"],
            RunningMeanStd(arrays["ret_rms/mean"], arrays["ret_rms/var"], float(arrays["ret_rms/count"])),
        ),
        rngs=rngs,
        next_obs=arrays["envs/next_obs"],
        episode_return=arrays["envs/episode_return"],
        episode_length=arrays["envs/episode_length"],
        iteration=int(arrays["iteration"]),
        global_step=int(arrays["global_step"]),
        wall_time=float(arrays["wall_time"]),
    )
    sim_states = None
    if bool(arrays["envs/has_sim_state"]):
        sim_states = [ckpt.subdict(arrays, f"envs/{i}") for i in range(cfg.num_envs)]
    return cfg, state, sim_states
