"""Record one iteration of a real training run as the trace the golden case
``iteration`` replays (ppo_ref/port/iteration.py), together with what the run
computed in that iteration, to compare the replay with.

    python tests/iteration_trace.py ppo_ref/port/traces/hopper_iteration.npz

writes the trace (the case's inputs). The run is ``train`` itself, unchanged: its
collaborators in ppo_ref.train (the vector env, the state's generators, the
rollout and the update) are wrapped while it runs so that they also record what
passes through them. Nothing they return is changed.
"""

import os
import sys
from contextlib import contextmanager

import gymnasium as gym
import numpy as np

from ppo_ref import train as train_module
from ppo_ref.config import Config
from ppo_ref.npzio import write_bytes_atomic
from ppo_ref.port.format import npz_bytes

SHORT_HOPPER = "ppo_ref_tests/Hopper-limit15-v4"
HOPPER_LIMIT = 15
ITERATION, NUM_ITERATIONS = 2, 3
RUN = dict(env_id=SHORT_HOPPER, num_envs=2, num_steps=64, total_timesteps=NUM_ITERATIONS * 128, num_minibatches=4,
           update_epochs=4, learning_rate=3e-3, seed=1, checkpoint_every=100)
LOSS_OPTIONS = ("clip_coef", "ent_coef", "vf_coef", "clip_vloss", "norm_adv")


class RecordingEnvs:
    """The vector env, recording each step's action and outputs while ``steps`` is a list."""

    def __init__(self, envs):
        self._envs, self.steps = envs, None

    def __getattr__(self, name):
        return getattr(self._envs, name)

    def step(self, action):
        obs, rewards, terminated, truncated, info = self._envs.step(action)
        if self.steps is not None:
            final = np.zeros_like(obs)
            for i in np.flatnonzero(terminated | truncated):
                final[i] = info["final_obs"][i]
            self.steps.append({"action": np.array(action, dtype=np.float64), "obs": np.array(obs, dtype=np.float64),
                               "rewards": np.array(rewards, dtype=np.float64), "terminated": terminated.copy(),
                               "truncated": truncated.copy(), "final_obs": final})
        return obs, rewards, terminated, truncated, info


class RecordingGenerator:
    """A numpy Generator, recording what ``standard_normal`` and ``permutation``
    return while ``draws`` is a list."""

    def __init__(self, rng):
        self._rng, self.draws = rng, None

    def __getattr__(self, name):
        return getattr(self._rng, name)

    def _record(self, x):
        if self.draws is not None:
            self.draws.append(np.array(x))
        return x

    def standard_normal(self, *args, **kwargs):
        return self._record(self._rng.standard_normal(*args, **kwargs))

    def permutation(self, *args, **kwargs):
        return self._record(self._rng.permutation(*args, **kwargs))


def _state_before(state):
    return {**{f"params/{k}": p.copy() for k, p in state.params.items()},
            **{f"m/{k}": p.copy() for k, p in state.opt["m"].items()},
            **{f"v/{k}": p.copy() for k, p in state.opt["v"].items()},
            "t": np.array(state.opt["t"], dtype=np.int64),
            "obs_rms/mean": state.obs_rms.mean.copy(), "obs_rms/var": state.obs_rms.var.copy(),
            "obs_rms/count": np.array(state.obs_rms.count, dtype=np.float64),
            "reward_rms/mean": np.array(state.reward_scaler.rms.mean, dtype=np.float64),
            "reward_rms/var": np.array(state.reward_scaler.rms.var, dtype=np.float64),
            "reward_rms/count": np.array(state.reward_scaler.rms.count, dtype=np.float64),
            "reward_G": state.reward_scaler.returns.copy(), "next_obs": np.array(state.next_obs, dtype=np.float64)}


@contextmanager
def _patched(module, **replacements):
    saved = {name: getattr(module, name) for name in replacements}
    for name, fn in replacements.items():
        setattr(module, name, fn)
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(module, name, fn)


def record(run_dir):
    """Train RUN for NUM_ITERATIONS iterations into ``run_dir`` and record iteration
    ITERATION. Returns ``(trace, real)``: the case's inputs by name, and what the
    run computed in that iteration: ``rollout`` (the rollout's arrays), ``sent``
    (T, N, A) the actions the envs received, ``advantages`` and ``returns`` (B,),
    ``lr``, ``diagnostics`` and ``state`` (the TrainState after the iteration)."""
    if SHORT_HOPPER not in gym.registry:
        gym.register(SHORT_HOPPER, entry_point="gymnasium.envs.mujoco.hopper_v4:HopperEnv",
                     max_episode_steps=HOPPER_LIMIT)
    cfg = Config(run_dir=str(run_dir), **RUN)
    envs_made, calls, trace, real = [], {"rollout": 0}, {}, {}
    make_vector_env, init_state = train_module.make_vector_env, train_module.init_state
    collect_rollout, update = train_module.collect_rollout, train_module.update

    def making(*args, **kwargs):
        envs_made.append(RecordingEnvs(make_vector_env(*args, **kwargs)))
        return envs_made[-1]

    def initialising(cfg, envs):
        state = init_state(cfg, envs)
        state.rngs = {k: RecordingGenerator(g) for k, g in state.rngs.items()}
        return state

    def rolling_out(cfg, envs, state, engine):
        calls["rollout"] += 1
        if calls["rollout"] != ITERATION:
            return collect_rollout(cfg, envs, state, engine)
        trace.update(_state_before(state))
        envs.steps, state.rngs["policy"].draws = [], []
        buf, episodes = collect_rollout(cfg, envs, state, engine)
        trace.update({f"env/{k}": np.stack([s[k] for s in envs.steps])
                      for k in ("obs", "rewards", "terminated", "truncated", "final_obs")})
        trace["noise"] = np.stack(state.rngs["policy"].draws)
        real.update(rollout={k: v.copy() for k, v in buf.items()}, sent=np.stack([s["action"] for s in envs.steps]))
        envs.steps = state.rngs["policy"].draws = None
        return buf, episodes

    def updating(cfg, state, batch, lr, engine):
        if calls["rollout"] != ITERATION:
            return update(cfg, state, batch, lr, engine)
        state.rngs["minibatch"].draws = []
        diagnostics = update(cfg, state, batch, lr, engine)
        trace["permutations"] = np.stack(state.rngs["minibatch"].draws).astype(np.int64)
        state.rngs["minibatch"].draws = None
        real.update(advantages=batch["advantages"].copy(), returns=batch["returns"].copy(), lr=lr,
                    diagnostics=dict(diagnostics))
        return diagnostics

    def after_iteration(state):
        if state.iteration == ITERATION:
            real["state"] = _copy_state(state)

    with _patched(train_module, make_vector_env=making, init_state=initialising, collect_rollout=rolling_out,
                  update=updating):
        train_module.train(cfg, progress=False, log=lambda line: None, callback=after_iteration)
    space = envs_made[0].single_action_space
    trace.update({
        "action_low": np.array(space.low, dtype=np.float64), "action_high": np.array(space.high, dtype=np.float64),
        "iteration": np.array(ITERATION, dtype=np.int64), "num_iterations": np.array(NUM_ITERATIONS, dtype=np.int64),
        "learning_rate": np.array(cfg.learning_rate), "anneal_lr": np.array(cfg.anneal_lr),
        "gamma": np.array(cfg.gamma), "gae_lambda": np.array(cfg.gae_lambda),
        "bootstrap_truncation": np.array(cfg.bootstrap_truncation), "max_grad_norm": np.array(cfg.max_grad_norm),
        "num_minibatches": np.array(cfg.num_minibatches, dtype=np.int64),
        "update_epochs": np.array(cfg.update_epochs, dtype=np.int64),
        **{k: np.array(getattr(cfg, k)) for k in LOSS_OPTIONS}})
    return trace, real


def _copy_state(state):
    """What the iteration leaves, copied: parameters, Adam state and the statistics."""
    from copy import deepcopy
    return deepcopy({"params": state.params, "opt": state.opt, "obs_rms": state.obs_rms,
                     "reward_scaler": state.reward_scaler})


def main(out_path):
    import tempfile
    with tempfile.TemporaryDirectory() as run_dir:
        trace, _ = record(os.path.join(run_dir, "run"))
    write_bytes_atomic(out_path, npz_bytes(trace))
    done = trace["env/terminated"] | trace["env/truncated"]
    print(f"wrote {out_path}: {len(trace)} arrays; terminated {int(trace['env/terminated'].sum())}, "
          f"truncated {int(trace['env/truncated'].sum())} (per env: {done.sum(axis=0).tolist()} episode ends)")


if __name__ == "__main__":
    main(sys.argv[1])
