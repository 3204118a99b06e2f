"""Evaluate a checkpoint: run its policy with the observation statistics frozen."""

import numpy as np

from ppo_ref.run import checkpoint as ckpt
from ppo_ref.core.agent import policy_mean
from ppo_ref.core.distributions import sample
from ppo_ref.envs.make import make_env, probe_spaces
from ppo_ref.core.normalization import normalize_obs


def evaluate(path, episodes, deterministic=False, seed=0):
    """Undiscounted, unscaled return of ``episodes`` episodes; returns an array."""
    env_id, act = load_actor(path, deterministic, seed)
    return run_episodes(env_id, episodes, seed, act)


def load_actor(path, deterministic=False, seed=0):
    """``(env_id, act)``: the checkpoint's policy as a function of one raw
    observation, with the observation statistics frozen; the action noise is
    drawn from a generator seeded with ``seed``."""
    cfg, params, obs_rms = ckpt.load_policy(path)
    obs_space, act_space = probe_spaces(cfg.env_id)
    ckpt.check_fits_env(params, cfg.env_id, obs_space, act_space)
    rng = np.random.default_rng(seed)

    def act(obs):
        mu = policy_mean(params, normalize_obs(obs[None], obs_rms).astype(params["log_std"].dtype, copy=False))[0]
        action = mu if deterministic else sample(rng, mu, params["log_std"])
        return np.clip(action, act_space.low, act_space.high)

    return cfg.env_id, act


def random_policy_returns(env_id, episodes, seed=0):
    """Returns of a policy that samples actions uniformly from the action space:
    the baseline a trained policy must beat."""
    rng = np.random.default_rng(seed)
    _, act_space = probe_spaces(env_id)
    return run_episodes(env_id, episodes, seed, lambda obs: rng.uniform(act_space.low, act_space.high))


def run_episodes(env_id, episodes, seed, act):
    """Run ``episodes`` episodes, episode k reset with seed ``seed + k``, taking
    ``act(obs)``; returns the undiscounted, unscaled returns as an array."""
    env = make_env(env_id)
    returns = []
    try:
        for ep in range(episodes):
            obs, _ = env.reset(seed=seed + ep)
            total, done = 0.0, False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(act(obs))
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
    finally:
        env.close()
    return np.array(returns)
