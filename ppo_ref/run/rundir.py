"""Starting or resuming a run in its run directory."""

import dataclasses
import itertools
import os
import time

import numpy as np

from ppo_ref import numerics
from ppo_ref.config import HOW_TO_RUN, SAME_RUN, ConfigError, flag, validate
from ppo_ref.core.normalization import RewardScaler
from ppo_ref.envs.simstate import set_sim_states
from ppo_ref.run import checkpoint as ckpt, layout


def claim_run_dir(cfg):
    """Make and return a new run's default directory, runs/ENV_ID__SEED__TIMESTAMP,
    with -2, -3, ... appended when another run took the name in the same second
    (``os.mkdir`` claims it: two runs started together get two directories)."""
    base = f"runs/{cfg.env_id}__{cfg.seed}__{time.strftime('%Y%m%d-%H%M%S')}"
    os.makedirs(os.path.dirname(base), exist_ok=True)
    for k in itertools.count(1):
        path = base if k == 1 else f"{base}-{k}"
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            continue


# The library versions whose change changes numbers (Python's does not: SPEC 8.2).
NUMBER_VERSIONS = ("ppo_ref", "numpy", "gymnasium", "mujoco")


def continuation_note(recorded, current):
    """One line saying why continuing a run recorded with ``recorded`` (a checkpoint's
    ckpt.run_record()) here, with ``current``, will not give an uninterrupted run's
    numbers bit for bit, or None when it will."""
    changes = [f"{k} {recorded.get(k, 'unrecorded')} -> {current[k]}"
               for k in NUMBER_VERSIONS if recorded.get(k) != current[k]]
    was = recorded.get("numerics")
    if was is None:
        changes.append(f"numerics unrecorded -> {numerics.describe(current['numerics'])}")
    elif not numerics.same_numbers(was, current["numerics"]):
        changes.append(f"numerics {numerics.describe(was)} -> {numerics.describe(current['numerics'])}")
    if not changes:
        return None
    return ("the checkpoint was written with other settings that change numbers (" + "; ".join(changes) + "): "
            "the continuation will not be bit for bit like an uninterrupted run")


def check_resume_settings(given):
    """The rule of ``train --resume``: a resumed run keeps its saved config but for
    the settings ``given`` of config.HOW_TO_RUN, which choose where the numbers are
    computed, never which; raises a ConfigError naming any other setting given."""
    fixed = [k for k in given if k not in HOW_TO_RUN]
    if fixed:
        raise ConfigError(f"a resumed run keeps its saved config but for where the numbers are computed; do not "
                          f"also pass {', '.join(map(flag, fixed))} (only {', '.join(map(flag, HOW_TO_RUN))} may "
                          f"change, as they change no number)")


def open_run(cfg, resume, how=None, log=print):
    """``(cfg, state, sim_states)`` to continue the run in ``resume`` (a run directory
    or checkpoint) with its saved config, but for the settings in ``how`` (only
    config.HOW_TO_RUN fields: :func:`check_resume_settings`), or ``(cfg, None, None)``
    for a new run of ``cfg``, whose run directory must not hold a run already (a new
    run without one gets :func:`claim_run_dir`'s once its envs are made).
    Resuming with other library versions or numerics than the checkpoint's says so
    through ``log`` and goes on."""
    if resume is not None:
        check_resume_settings(how or {})
        path = ckpt.resolve(resume)
        arrays = ckpt.load(path)
        cfg, state, sim_states = ckpt.state_from_arrays(arrays)
        cfg.run_dir = os.path.dirname(path) or "."
        recorded = ckpt.from_json_array(arrays["versions"]) if "versions" in arrays else {}
        note = continuation_note(recorded, ckpt.run_record())
        if note:
            log(note)
        if how:
            cfg = validate(dataclasses.replace(cfg, **how))
        return cfg, state, sim_states
    cfg = validate(dataclasses.replace(cfg))
    if cfg.run_dir is not None:
        check_new_run_dir(cfg)
    return cfg, None, None


def check_new_run_dir(cfg):
    """Refuse a new run's ``cfg.run_dir`` that holds a run: one with a checkpoint
    (continue it with --resume), or the start of another run that never wrote one,
    whose config.json and CSVs the new run would replace. The start of this very
    run (the same settings, seed included: a run killed before its first
    checkpoint) may be started again; it writes the same numbers."""
    run_dir = cfg.run_dir
    if os.path.exists(os.path.join(run_dir, ckpt.CHECKPOINT_NAME)):
        raise FileExistsError(f"--run-dir {run_dir} already holds a run; continue it with "
                              f"--resume {run_dir} or choose another")
    config_path = os.path.join(run_dir, layout.CONFIG_NAME)
    if os.path.isfile(config_path) and os.path.getsize(config_path) > 0:
        try:
            saved = layout.read_config(run_dir).to_dict()
        except layout.RunDirError as err:
            raise layout.RunDirError(f"--run-dir {run_dir} holds a config.json a new run would replace: {err}; "
                                     "remove it or choose another --run-dir") from None
        new = cfg.to_dict()
        differ = [k for k in new if k not in SAME_RUN - {"seed"} and saved[k] != new[k]]
        if differ:
            k = differ[0]
            raise layout.RunDirError(f"--run-dir {run_dir} holds the start of another run ({k} {saved[k]!r} there, "
                                     f"{new[k]!r} here) that never wrote a checkpoint; remove it or choose another "
                                     "--run-dir")
    else:
        logged = [n for n in (layout.METRICS_NAME, layout.EPISODES_NAME)
                  if os.path.isfile(os.path.join(run_dir, n)) and layout.read_csv(os.path.join(run_dir, n))]
        if logged:
            raise layout.RunDirError(f"--run-dir {run_dir} holds {' and '.join(logged)} but no run's config; remove "
                                     "them or choose another --run-dir")


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
