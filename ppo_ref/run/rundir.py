"""Starting or resuming a run in its run directory."""

import dataclasses
import os
import time

import numpy as np

from ppo_ref.config import HOW_TO_RUN, ConfigError, validate
from ppo_ref.core.normalization import RewardScaler
from ppo_ref.envs.simstate import set_sim_states
from ppo_ref.run import checkpoint as ckpt


def default_run_dir(cfg):
    return f"runs/{cfg.env_id}__{cfg.seed}__{time.strftime('%Y%m%d-%H%M%S')}"


def open_run(cfg, resume, how=None):
    """``(cfg, state, sim_states)`` to continue the run in ``resume`` (a run directory
    or checkpoint) with its saved config, but for the settings in ``how`` (only
    config.HOW_TO_RUN fields), or ``(cfg, None, None)`` for a new run of ``cfg``,
    whose run directory must not hold a run already. ``cfg.run_dir`` is set either way."""
    if resume is not None:
        path = ckpt.resolve(resume)
        cfg, state, sim_states = ckpt.state_from_arrays(ckpt.load(path))
        cfg.run_dir = os.path.dirname(path) or "."
        if how:
            if set(how) - set(HOW_TO_RUN):
                raise ConfigError(f"a resumed run keeps its saved config but for {', '.join(HOW_TO_RUN)}; "
                                  f"got {', '.join(sorted(set(how) - set(HOW_TO_RUN)))}")
            cfg = validate(dataclasses.replace(cfg, **how))
        return cfg, state, sim_states
    cfg = validate(dataclasses.replace(cfg))
    if cfg.run_dir is None:
        cfg.run_dir = default_run_dir(cfg)
    if os.path.exists(os.path.join(cfg.run_dir, ckpt.CHECKPOINT_NAME)):
        raise FileExistsError(f"--run-dir {cfg.run_dir} already holds a run; continue it with "
                              f"--resume {cfg.run_dir} or choose another")
    return cfg, None, None


def restore_envs(cfg, envs, state, sim_states, log):
    """Put the envs back where the checkpoint left them, or start fresh episodes
    when the checkpoint holds no simulator state (and say so)."""
    ckpt.check_fits_env(state.params, cfg.env_id, envs.single_observation_space, envs.single_action_space)
    seeds = [int(s) for s in np.random.default_rng(state.global_step).integers(0, 2**31 - 1, size=cfg.num_envs)]
    raw_obs, _ = envs.reset(seed=seeds)
    if sim_states is not None:
        set_sim_states(envs, sim_states)
    else:
        log(f"{cfg.env_id} does not expose its simulator state: resuming with fresh episodes")
        state.next_obs = raw_obs
        state.episode_return[:] = 0.0
        state.episode_length[:] = 0
        state.reward_scaler = RewardScaler(np.zeros(cfg.num_envs), state.reward_scaler.rms)
