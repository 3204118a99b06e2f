"""The PPO training loop, written out plainly: collect a rollout, compute GAE, run
epochs of minibatch updates, log, checkpoint. Read :func:`_loop` top to bottom.

Everything that a checkpoint must hold lives in one :class:`TrainState`.
"""

import dataclasses
import os
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from . import checkpoint as ckpt
from .agent import init_params, policy_mean, value
from .config import Config, validate
from .distributions import log_prob_unchecked, sample_unchecked
from .envs import get_sim_states, make_vector_env, probe_spaces, set_sim_states
from .gae import gae_unchecked
from .losses import explained_variance, ppo_loss_unchecked
from .normalization import (
    RewardScaler,
    RunningMeanStd,
    normalize_obs,
    reward_scaler_init,
    rms_init,
    rms_update_unchecked,
    scale_reward_unchecked,
)
from .optim import PackedAdam, adam_init, clip_scale, global_grad_norm, linear_lr
from .runlog import RunLog
from .stopwatch import Stopwatch

RNG_NAMES = ("init", "policy", "minibatch", "env")


class NonFiniteError(RuntimeError):
    """A loss, gradient, parameter, observation or reward is NaN or infinite."""


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


def check_finite(name, x, iteration, minibatch=None):
    if not np.all(np.isfinite(x)):
        where = f"iteration {iteration}" + ("" if minibatch is None else f", minibatch {minibatch}")
        raise NonFiniteError(f"non-finite {name} at {where}; the last checkpoint holds the last finite state")


def collect_rollout(cfg, envs, state, iteration, sw):
    """Run the policy for ``num_steps`` steps in every env.

    Returns the rollout arrays (each (T, N, ...)) and the episodes that finished,
    as (global_step, return, length) tuples. ``values[t] = V(s_t)`` and
    ``next_values[t] = V(s_{t+1})`` with s_{t+1} the true next state: the final
    observation when the episode ended at t, else the next row's observation.
    ``sw`` (a Stopwatch) is charged with each part of a step.
    """
    T, N = cfg.num_steps, cfg.num_envs
    params = state.params
    low, high = envs.single_action_space.low, envs.single_action_space.high
    obs_dim = state.next_obs.shape[1]
    act_dim = params["log_std"].shape[0]
    buf = {
        "obs": np.empty((T, N, obs_dim)),
        "actions": np.empty((T, N, act_dim)),
        "logprobs": np.empty((T, N)),
        "values": np.empty((T, N)),
        "next_values": np.empty((T, N)),
        "rewards": np.empty((T, N)),
        "terminated": np.empty((T, N), dtype=bool),
        "truncated": np.empty((T, N), dtype=bool),
    }
    episodes = []
    sw.restart()
    for t in range(T):
        obs = normalize_obs(state.next_obs, state.obs_rms)  # (N, D)
        sw.lap("rollout: normalisation")
        mu = policy_mean(params, obs)  # (N, A)
        action = sample_unchecked(state.rngs["policy"], mu, params["log_std"])  # (N, A), unclipped
        buf["obs"][t] = obs
        buf["actions"][t] = action
        buf["logprobs"][t] = log_prob_unchecked(action, mu, params["log_std"])
        buf["values"][t] = value(params, obs)
        sw.lap("rollout: policy and value forward")

        raw_obs, reward, terminated, truncated, info = envs.step(np.clip(action, low, high))
        sw.lap("rollout: env step")
        check_finite("observation", raw_obs, iteration)
        check_finite("reward", reward, iteration)
        done = terminated | truncated
        state.global_step += N

        scaled, state.reward_scaler = scale_reward_unchecked(state.reward_scaler, reward, done, cfg.gamma)
        buf["rewards"][t] = scaled
        buf["terminated"][t] = terminated
        buf["truncated"][t] = truncated

        state.episode_return += reward
        state.episode_length += 1
        # The statistics see every observation the agent will act on (a reset
        # observation for the envs that just finished), then normalise it.
        state.obs_rms = rms_update_unchecked(state.obs_rms, raw_obs)
        state.next_obs = raw_obs
        sw.lap("rollout: normalisation")
        if done.any():
            ended = np.flatnonzero(done)
            final_obs = np.stack([info["final_obs"][i] for i in ended])  # (k, D)
            check_finite("final observation", final_obs, iteration)
            buf["next_values"][t, ended] = value(params, normalize_obs(final_obs, state.obs_rms))
            for i in ended:
                episodes.append((state.global_step, float(state.episode_return[i]), int(state.episode_length[i])))
            state.episode_return[ended] = 0.0
            state.episode_length[ended] = 0
        sw.lap("rollout: bookkeeping")

    # v'_t = v_{t+1} within an episode; V(next observation) after the last step.
    not_done = ~(buf["terminated"] | buf["truncated"])
    following = np.concatenate([buf["values"][1:], value(params, normalize_obs(state.next_obs, state.obs_rms))[None]])
    buf["next_values"][not_done] = following[not_done]
    sw.lap("rollout: policy and value forward")
    return buf, episodes


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
            loss, grads, info = ppo_loss_unchecked(
                adam.params, batch["obs"][idx], batch["actions"][idx], batch["logprobs"][idx],
                batch["advantages"][idx], batch["returns"][idx], batch["values"][idx],
                cfg.clip_coef, cfg.ent_coef, cfg.vf_coef, cfg.clip_vloss, cfg.norm_adv,
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
    envs = make_vector_env(cfg.env_id, cfg.num_envs, cfg.async_envs)
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
