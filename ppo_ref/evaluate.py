"""Evaluate a checkpoint: run its policy with the observation statistics frozen."""

import numpy as np

from ppo_ref.run import checkpoint as ckpt
from ppo_ref.core.agent import policy_mean
from ppo_ref.core.distributions import sample
from ppo_ref.envs.make import make_env, probe_spaces
from ppo_ref.core.normalization import normalize_obs


def evaluate(path, episodes, deterministic=False, seed=0, record=None):
    """Undiscounted, unscaled return of ``episodes`` episodes; returns an array.
    ``record``: an :class:`ActionRecord` that keeps every step's observation and
    action, for checking a port's policy per observation."""
    env_id, act = load_actor(path, deterministic, seed, record)
    returns = run_episodes(env_id, episodes, seed, act, record)
    if record is not None:
        record.returns = returns
    return returns


class ActionRecord:
    """What eval acted on, step by step: the raw observation, the normalised one,
    the policy mean, the standard normals drawn for the action (zeros when
    deterministic) and the clipped action sent to the env, with each step's
    episode and each episode's reset seed."""

    def __init__(self):
        self.steps = {k: [] for k in ("obs", "obs_normalized", "mean", "noise", "action", "episode")}
        self.reset_seeds, self.returns = [], None

    def arrays(self, deterministic, seed):
        """The record as named arrays (ppo-ref eval --actions writes them)."""
        out = {k: np.array(v) for k, v in self.steps.items()}
        out.update(reset_seeds=np.array(self.reset_seeds, dtype=np.int64), returns=np.asarray(self.returns),
                   deterministic=np.array(deterministic), seed=np.array(seed, dtype=np.int64))
        return out


class _RecordingGenerator:
    """A Generator whose standard normal draws are kept, so sample's noise can be recorded."""

    def __init__(self, rng):
        self.rng, self.last = rng, None

    def standard_normal(self, shape):
        self.last = self.rng.standard_normal(shape)
        return self.last


def load_actor(path, deterministic=False, seed=0, record=None):
    """``(env_id, act)``: the checkpoint's policy as a function of one raw
    observation, with the observation statistics frozen; the action noise is
    drawn from a generator seeded with ``seed``, one standard normal per action
    dimension per step. ``record``: an :class:`ActionRecord` to append each step to."""
    cfg, params, obs_rms = ckpt.load_policy(path)
    obs_space, act_space = probe_spaces(cfg.env_id)
    ckpt.check_fits_env(params, cfg.env_id, obs_space, act_space)
    rng = np.random.default_rng(seed)
    if record is not None:
        rng = _RecordingGenerator(rng)

    def act(obs):
        x = normalize_obs(obs[None], obs_rms).astype(params["log_std"].dtype, copy=False)
        mu = policy_mean(params, x)[0]
        action = mu if deterministic else sample(rng, mu, params["log_std"])
        sent = np.clip(action, act_space.low, act_space.high)
        if record is not None:
            noise = np.zeros_like(mu) if deterministic else rng.last
            for k, v in zip(("obs", "obs_normalized", "mean", "noise", "action"), (obs, x[0], mu, noise, sent)):
                record.steps[k].append(v)
            record.steps["episode"].append(len(record.reset_seeds) - 1)
        return sent

    return cfg.env_id, act


def random_policy_returns(env_id, episodes, seed=0):
    """Returns of a policy that samples actions uniformly from the action space:
    the baseline a trained policy must beat."""
    rng = np.random.default_rng(seed)
    _, act_space = probe_spaces(env_id)
    return run_episodes(env_id, episodes, seed, lambda obs: rng.uniform(act_space.low, act_space.high))


def run_episodes(env_id, episodes, seed, act, record=None):
    """Run ``episodes`` episodes, episode k reset with seed ``seed + k``, taking
    ``act(obs)``; returns the undiscounted, unscaled returns as an array.
    ``record``: an :class:`ActionRecord` that keeps each episode's reset seed."""
    returns = []
    with make_env(env_id) as env:
        for ep in range(episodes):
            if record is not None:
                record.reset_seeds.append(seed + ep)
            obs, _ = env.reset(seed=seed + ep)
            total, done = 0.0, False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(act(obs))
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
    return np.array(returns)
