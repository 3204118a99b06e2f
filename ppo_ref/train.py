"""The PPO training loop, written out plainly: collect a rollout, compute GAE, run
epochs of minibatch updates, log, checkpoint. Read :func:`_loop` top to bottom.

The rollout is in rollout.py; what a run carries between iterations (and a
checkpoint holds) is the TrainState of state.py.
"""

import dataclasses
import os
import signal
import sys
import time
from collections import deque

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from ppo_ref.run import checkpoint as ckpt

from ppo_ref.core.checks import check_finite
from ppo_ref.config import validate
from ppo_ref.envs import get_sim_states, make_vector_env, probe_spaces, set_sim_states
from ppo_ref.core.gae import gae_unchecked
from ppo_ref.core.losses import explained_variance, ppo_loss_unchecked
from ppo_ref.core.normalization import RewardScaler
from ppo_ref.core.optim import PackedAdam, clip_scale, global_grad_norm, linear_lr
from ppo_ref.rollout import collect_rollout
from ppo_ref.run.runlog import RunLog
from ppo_ref.state import init_state, state_from_arrays, state_to_arrays
from ppo_ref.stopwatch import Stopwatch


def update(cfg, state, batch, lr, iteration, sw):
    """``update_epochs`` passes over the batch in minibatches drawn by permutation:
    each epoch draws ``perm = rng.permutation(B)`` from the minibatch generator,
    lazily, so an early stop on ``target_kl`` draws no permutation it does not use.

    Returns the diagnostics averaged over the minibatches that ran.
    """
    perms = (state.rngs["minibatch"].permutation(cfg.batch_size) for _ in range(cfg.update_epochs))
    return update_with_permutations(cfg, state.params, state.opt, batch, lr, perms, iteration, sw)


def update_with_permutations(cfg, params, opt, batch, lr, perms, iteration=1, sw=None):
    """The epochs of :func:`update` with the permutations given by the caller, so a
    port can replay an update without numpy's generator. Updates ``params`` and the
    Adam state ``opt`` in place.

    batch: obs (B, D), actions (B, A), logprobs (B,), values (B,), advantages (B,),
    returns (B,). perms: one permutation of range(B) per epoch, e.g. an int array
    (update_epochs, B); epoch e uses minibatches ``perms[e][j*mb:(j+1)*mb]``.
    Returns the diagnostics averaged over the minibatches that ran.
    """
    B, mb = cfg.batch_size, cfg.minibatch_size
    keys = ("pg_loss", "v_loss", "entropy", "approx_kl", "clipfrac", "grad_norm")
    sums = dict.fromkeys(keys, 0.0)
    count = 0
    sw = Stopwatch() if sw is None else sw
    adam = PackedAdam(params, opt)
    sw.restart()
    for epoch, perm in enumerate(perms):
        for j, start in enumerate(range(0, B, mb)):
            idx = perm[start:start + mb]
            minibatch = epoch * cfg.num_minibatches + j
            # The gradients land in the optimiser's packed buffer.
            loss, grads, info = ppo_loss_unchecked(
                adam.params, batch["obs"][idx], batch["actions"][idx], batch["logprobs"][idx],
                batch["advantages"][idx], batch["returns"][idx], batch["values"][idx],
                cfg.clip_coef, cfg.ent_coef, cfg.vf_coef, cfg.clip_vloss, cfg.norm_adv,
                out=adam.grads,
            )
            sw.lap("update: loss forward and backward")
            check_finite("loss", loss, iteration, minibatch)
            norm = global_grad_norm(grads)
            check_finite("gradient", norm, iteration, minibatch)
            adam.step(grads, clip_scale(norm, cfg.max_grad_norm), lr)
            if not np.isfinite(adam.flat).all():
                bad = next(k for k, p in adam.params.items() if not np.isfinite(p).all())
                check_finite(f"parameter {bad}", adam.params[bad], iteration, minibatch)
            sw.lap("update: gradient clipping and Adam")
            info["grad_norm"] = norm
            for k in keys:
                sums[k] += info[k]
            count += 1
        if cfg.target_kl is not None and info["approx_kl"] > cfg.target_kl:
            break
    adam.unpack(params, opt)
    return {k: v / count for k, v in sums.items()}


def default_run_dir(cfg):
    return f"runs/{cfg.env_id}__{cfg.seed}__{time.strftime('%Y%m%d-%H%M%S')}"


class _StopRequested:
    """SIGINT/SIGTERM set a flag; the loop checkpoints and stops after the current
    iteration's update, so a checkpoint never holds a half-finished iteration."""

    def __init__(self):
        self.signum = None

    def __enter__(self):
        self._old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum, frame):
        if self.signum is not None:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.signum = signum

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)


def train(cfg=None, resume=None, progress=None, log=print, callback=None, stopwatch=None):
    """Train PPO; returns the final TrainState.

    ``cfg``: a Config for a new run. ``resume``: a run directory (or checkpoint)
    to continue instead, with the config saved in it. ``progress``: show a
    progress bar (default: when stderr is a terminal). ``callback(state)`` is
    called after each iteration has been logged, before its checkpoint.
    ``stopwatch``: a :class:`Stopwatch` to charge each part of an iteration to.
    """
    # 64-unit layers are far too small for BLAS threads to pay; on a loaded
    # machine they cost several times the work they share.
    with threadpool_limits(limits=1, user_api="blas"):
        return _train(cfg, resume, progress, log, callback, stopwatch or Stopwatch())


def _train(cfg, resume, progress, log, callback, sw):
    if resume is not None:
        path = ckpt.resolve(resume)
        cfg, state, sim_states = state_from_arrays(ckpt.load(path))
        cfg.run_dir = run_dir = os.path.dirname(path) or "."
    else:
        cfg = validate(dataclasses.replace(cfg))
        if cfg.run_dir is None:
            cfg.run_dir = default_run_dir(cfg)
        run_dir = cfg.run_dir
        if os.path.exists(os.path.join(run_dir, ckpt.CHECKPOINT_NAME)):
            raise FileExistsError(
                f"--run-dir {run_dir} already holds a run; continue it with --resume {run_dir} or choose another"
            )
    probe_spaces(cfg.env_id)
    envs = make_vector_env(cfg.env_id, cfg.num_envs, cfg.async_envs, cfg.thread_envs)
    try:
        if resume is None:
            state = init_state(cfg, envs)
        else:
            ckpt.check_fits_env(state.params, cfg.env_id, envs.single_observation_space, envs.single_action_space)
            restore_envs(cfg, envs, state, sim_states, log)
        runlog = RunLog(run_dir, cfg.to_dict(), None if resume is None else state.global_step)
        try:
            with _StopRequested() as stop:
                _loop(cfg, envs, state, runlog, stop, progress, log, callback, sw)
        finally:
            runlog.close()
    finally:
        envs.close()
    return state


def restore_envs(cfg, envs, state, sim_states, log):
    """Put the envs back where the checkpoint left them, or start fresh episodes
    when the checkpoint holds no simulator state (and say so)."""
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


def _loop(cfg, envs, state, runlog, stop, progress, log, callback, sw):
    K = cfg.num_iterations
    recent = deque(maxlen=20)
    bar = tqdm(total=K * cfg.batch_size, initial=state.global_step, unit="step", dynamic_ncols=True,
               disable=(not sys.stderr.isatty()) if progress is None else not progress)
    start = time.perf_counter() - state.wall_time
    for iteration in range(state.iteration + 1, K + 1):
        t0 = time.perf_counter()
        lr = linear_lr(iteration, K, cfg.learning_rate) if cfg.anneal_lr else cfg.learning_rate

        # 1. Collect a rollout of num_steps steps in every env.
        rollout, episodes = collect_rollout(cfg, envs, state, iteration, sw)

        # 2. Advantages and returns (SPEC 4).
        advantages, returns = gae_unchecked(
            rollout["rewards"], rollout["values"], rollout["next_values"], rollout["terminated"],
            rollout["truncated"], cfg.gamma, cfg.gae_lambda, cfg.bootstrap_truncation,
        )
        sw.lap("gae")

        # 3. Epochs of minibatch updates on the flattened batch (SPEC 5, 6).
        B = cfg.batch_size
        batch = {
            "obs": rollout["obs"].reshape(B, -1),
            "actions": rollout["actions"].reshape(B, -1),
            "logprobs": rollout["logprobs"].reshape(B),
            "values": rollout["values"].reshape(B),
            "advantages": advantages.reshape(B),
            "returns": returns.reshape(B),
        }
        diag = update(cfg, state, batch, lr, iteration, sw)
        state.iteration = iteration

        # 4. Log.
        now = time.perf_counter()
        state.wall_time = now - start
        for ep in episodes:
            runlog.episode(*ep)
            recent.append(ep[1])
        rets = [e[1] for e in episodes]
        runlog.metrics({
            "iteration": iteration,
            "global_step": state.global_step,
            "wall_time": state.wall_time,
            "steps_per_second": B / (now - t0),
            "episodic_return": float(np.mean(rets)) if rets else "",
            "episodic_length": float(np.mean([e[2] for e in episodes])) if episodes else "",
            "episodes": len(episodes),
            "explained_variance": explained_variance(batch["values"], batch["returns"]),
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
            ckpt.save(runlog.checkpoint_path, state_to_arrays(cfg, state, get_sim_states(envs)))
            sw.lap("checkpoint")
        if stop.signum is not None:
            bar.close()
            log(f"stopped by {signal.Signals(stop.signum).name} after iteration {iteration}; "
                f"checkpoint saved. Continue with: ppo-ref train --resume {runlog.run_dir}")
            return
    bar.close()
    log(f"finished {K} iterations ({state.global_step} steps) in {state.wall_time:.1f} s; run directory {runlog.run_dir}")
