"""Collecting a rollout: the policy acts in the vector env for ``num_steps`` steps.

Per step (SPEC 2.2, 3.2): normalise the observation, sample an action from the policy
and record its log-prob and the value, step the env with the action clipped to the
bounds (the buffer keeps the unclipped one), merge the new observations into the
running statistics, and record finished episodes. The rewards are scaled after the
last step, in the same order: nothing in a step depends on a scaled reward.
"""

import numpy as np

from ppo_ref.finite import check_finite


def collect_rollout(cfg, envs, state, engine):
    """Run the policy for ``num_steps`` steps in every env, with the functions of
    ``engine`` (ppo_ref.engines).

    Returns the rollout arrays (each (T, N, ...)) and the episodes that finished,
    as (global_step, return, length) tuples. ``values_old[t] = V(s_t)`` and
    ``next_values[t] = V(s_{t+1})`` with s_{t+1} the true next state: the final
    observation when the episode ended at t, else the next row's observation.
    """
    T, N = cfg.num_steps, cfg.num_envs
    params = state.params
    dtype = params["log_std"].dtype  # the run's dtype (Config.dtype); the statistics stay float64
    low, high = envs.single_action_space.low, envs.single_action_space.high
    obs_dim = state.next_obs.shape[1]
    act_dim = params["log_std"].shape[0]
    buf = {
        "obs": np.empty((T, N, obs_dim), dtype=dtype),
        "actions": np.empty((T, N, act_dim), dtype=dtype),
        "logprobs_old": np.empty((T, N), dtype=dtype),  # the log-probs and values the loss compares with
        "values_old": np.empty((T, N), dtype=dtype),
        "next_values": np.empty((T, N), dtype=dtype),
        "rewards": np.empty((T, N)),  # float64 like the env's rewards, until scaled
        "terminated": np.empty((T, N), dtype=bool),
        "truncated": np.empty((T, N), dtype=bool),
    }
    episodes = []
    act = engine.policy(params)
    for t in range(T):
        buf["obs"][t] = engine.normalize_obs(state.next_obs, state.obs_rms)  # (N, D), in the run's dtype
        action, buf["logprobs_old"][t], buf["values_old"][t] = act(buf["obs"][t], state.rngs["policy"])
        buf["actions"][t] = action  # (N, A) unclipped

        raw_obs, buf["rewards"][t], buf["terminated"][t], buf["truncated"][t], info = envs.step(
            np.clip(action, low, high))
        check_finite("observation", raw_obs)
        state.global_step += N
        # The statistics see every observation the agent will act on (a reset
        # observation for the envs that just finished), then normalise it.
        state.obs_rms = engine.rms_update(state.obs_rms, raw_obs)
        state.next_obs = raw_obs
        done = buf["terminated"][t] | buf["truncated"][t]
        state.episode_return += buf["rewards"][t]
        state.episode_length += 1
        if done.any():
            ended = np.flatnonzero(done)
            final_obs = np.stack([info["final_obs"][i] for i in ended])  # (k, D)
            check_finite("final observation", final_obs)
            buf["next_values"][t, ended] = engine.value(params, _normalized(engine, final_obs, state.obs_rms, dtype))
            for i in ended:
                episodes.append((state.global_step, float(state.episode_return[i]), int(state.episode_length[i])))
            state.episode_return[ended] = 0.0
            state.episode_length[ended] = 0

    # Reward scaling (SPEC 3.3) step by step as if inside the loop above: the
    # scaled rewards play no part in choosing actions, so it can wait until here.
    check_finite("reward", buf["rewards"])
    dones = buf["terminated"] | buf["truncated"]
    for t in range(T):
        buf["rewards"][t], state.reward_scaler = engine.scale_reward(
            state.reward_scaler, buf["rewards"][t], dones[t], cfg.gamma)
    buf["rewards"] = buf["rewards"].astype(dtype, copy=False)  # scaled in float64, learnt from in dtype

    # v'_t = v_{t+1} within an episode; V(next observation) after the last step.
    not_done = ~dones
    last = engine.value(params, _normalized(engine, state.next_obs, state.obs_rms, dtype))
    following = np.concatenate([buf["values_old"][1:], last[None]])
    buf["next_values"][not_done] = following[not_done]
    return buf, episodes


def _normalized(engine, raw_obs, rms, dtype):
    """Normalised observations (computed in float64, as the statistics are) in the run's dtype."""
    return engine.normalize_obs(raw_obs, rms).astype(dtype, copy=False)
