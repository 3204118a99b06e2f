"""The PPO training loop, written out plainly: collect a rollout, compute GAE, run
epochs of minibatch updates, log, checkpoint. Read :func:`_loop` top to bottom.

The rollout is in rollout.py, the update in update.py; both run on the fast
engine, or on the reference core alone with ``--reference-core``. What a run
carries between iterations is the TrainState of state.py; its run directory,
checkpoints and logs are managed by ppo_ref/run.
"""

import sys
import time
from collections import deque
from contextlib import closing

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from ppo_ref import numerics
from ppo_ref.core.gae import gae
from ppo_ref.core.losses import explained_variance
from ppo_ref.engines import REFERENCE
from ppo_ref.envs.make import make_vector_env, probe_spaces
from ppo_ref.envs.simstate import get_sim_states
from ppo_ref.fast import FAST
from ppo_ref.finite import NonFiniteError
from ppo_ref.rollout import collect_rollout
from ppo_ref.run import checkpoint as ckpt
from ppo_ref.run.rundir import claim_run_dir, open_run, restore_envs
from ppo_ref.run.runlog import RunLog
from ppo_ref.run.signals import StopRequested
from ppo_ref.run.tensorboard import check_available as check_tensorboard
from ppo_ref.state import init_state
from ppo_ref.stopwatch import Stopwatch
from ppo_ref.update import batch_of, learning_rate, update


def engine_for(reference_core):
    """The one place the engine is chosen: the reference core with
    ``--reference-core``, else the fast engine (the same numbers, faster)."""
    return REFERENCE if reference_core else FAST


def train(cfg=None, resume=None, progress=None, log=print, callback=None, stopwatch=None, how=None):
    """Train PPO; returns the final TrainState.

    ``cfg``: a Config for a new run. ``resume``: a run directory (or checkpoint)
    to continue instead, with the config saved in it, except for the settings in
    ``how`` (a dict of config.HOW_TO_RUN fields: how to compute, never what).
    ``progress``: show a progress bar (default: when stderr is a terminal). ``callback(state)`` is
    called after each iteration has been logged, before its checkpoint.
    ``stopwatch``: a :class:`Stopwatch` charged with each phase of an iteration.
    """
    # 64-unit layers are far too small for BLAS threads to pay; on a loaded
    # machine they cost several times the work they share.
    with threadpool_limits(limits=1, user_api="blas"):
        numerics.announce(log)
        cfg, state, sim_states = open_run(cfg, resume, how, log)
        if state is not None and state.iteration >= cfg.num_iterations:
            ckpt.check_fits_env(state.params, cfg.env_id, *probe_spaces(cfg.env_id))
            log(f"{cfg.run_dir} finished its {cfg.num_iterations} iterations ({state.global_step} steps) already; "
                "nothing to resume")
            return state
        if cfg.tensorboard:
            check_tensorboard()
        probe_spaces(cfg.env_id)
        with closing(make_vector_env(cfg.env_id, cfg.num_envs, cfg.async_envs, cfg.thread_envs)) as envs:
            if state is None:
                state = init_state(cfg, envs)
            else:
                restore_envs(cfg, envs, state, sim_states, log)
            if cfg.run_dir is None:
                cfg.run_dir = claim_run_dir(cfg)
            runlog = RunLog(cfg.run_dir, {**cfg.to_dict(), "versions": ckpt.run_record()},
                            None if resume is None else state.global_step, tensorboard=cfg.tensorboard)
            with closing(runlog), StopRequested() as stop:
                _loop(cfg, envs, state, runlog, stop, progress, log, callback, stopwatch or Stopwatch(),
                      engine_for(cfg.reference_core))
    return state


def _loop(cfg, envs, state, runlog, stop, progress, log, callback, sw, engine):
    K = cfg.num_iterations
    recent = deque(maxlen=20)
    bar = tqdm(total=K * cfg.batch_size, initial=state.global_step, unit="step", dynamic_ncols=True,
               disable=(not sys.stderr.isatty()) if progress is None else not progress)
    start = time.perf_counter() - state.wall_time
    for iteration in range(state.iteration + 1, K + 1):
        t0 = time.perf_counter()
        sw.restart()
        lr = learning_rate(iteration, K, cfg.learning_rate, cfg.anneal_lr)
        try:
            # 1. Collect a rollout of num_steps steps in every env.
            rollout, episodes = collect_rollout(cfg, envs, state, engine)
            sw.lap("rollout")

            # 2. Advantages and returns (SPEC 4).
            advantages, returns = gae(
                rollout["rewards"], rollout["values_old"], rollout["next_values"], rollout["terminated"],
                rollout["truncated"], cfg.gamma, cfg.gae_lambda, cfg.bootstrap_truncation,
            )
            sw.lap("gae")

            # 3. Epochs of minibatch updates on the flattened batch (SPEC 5, 6); the
            #    rollout's log-probs and values are the "old" ones the loss compares with.
            B = cfg.batch_size
            batch = batch_of(rollout, advantages, returns)
            diag = update(cfg, state, batch, lr, engine)
            sw.lap("update")
        except NonFiniteError as err:
            err.where.insert(0, f"iteration {iteration}")
            raise
        state.iteration = iteration

        # 4. Log.
        now = time.perf_counter()
        state.wall_time = now - start
        for ep in episodes:
            runlog.episode(*ep)
            recent.append(ep[1])
        runlog.metrics({
            "iteration": iteration,
            "global_step": state.global_step,
            "wall_time": state.wall_time,
            "steps_per_second": B / (now - t0),
            "episodic_return": float(np.mean([e[1] for e in episodes])) if episodes else "",
            "episodic_length": float(np.mean([e[2] for e in episodes])) if episodes else "",
            "episodes": len(episodes),
            "explained_variance": explained_variance(batch["values_old"], batch["returns"]),
            "learning_rate": lr,
            **diag,
        })
        bar.update(B)
        if recent:
            bar.set_postfix(ret=f"{np.mean(recent):.1f}", refresh=False)
        sw.lap("logging")
        if callback is not None:
            callback(state)

        # 5. Checkpoint.
        if iteration % cfg.checkpoint_every == 0 or iteration == K or stop.signum is not None:
            sw.restart()
            ckpt.save(runlog.checkpoint_path, ckpt.state_to_arrays(cfg, state, get_sim_states(envs)))
            sw.lap("checkpoint")
        if stop.signum is not None:
            bar.close()
            log(f"stopped by {stop.name} after iteration {iteration}; "
                f"checkpoint saved. Continue with: ppo-ref train --resume {runlog.run_dir}")
            return
    bar.close()
    log(f"finished {K} iterations ({state.global_step} steps) in {state.wall_time:.1f} s; "
        f"run directory {runlog.run_dir}")
