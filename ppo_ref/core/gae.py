"""Generalised advantage estimation with separate terminated and truncated flags (SPEC 4).

Schulman et al. 2016, "High-Dimensional Continuous Control Using Generalized
Advantage Estimation". Index convention: ``r_t`` is the reward received for the
action taken in ``s_t`` (the transition s_t -> s_{t+1}); ``v_t = V(s_t)`` and
``v'_t = V(s_{t+1})``, where s_{t+1} is the *true* next state: at an episode end it
is the final observation, before any reset.

Why the flags differ: on termination the episode is over, the future is worth 0,
so the TD target is ``r_t`` alone. On truncation (a time limit) the state s_{t+1}
still had a future; we did not get to see it, so we bootstrap with ``v'_t``. Either
way the advantage recursion must stop at the episode end, because the next row
of the rollout belongs to a new episode.
"""

import numpy as np

from .checks import check_gae, checked


def gae(rewards, values, next_values, terminated, truncated, gamma, gae_lambda, bootstrap_truncation=True):
    """Advantages and returns.

    delta_t = r_t + gamma * (1 - terminated_t) * v'_t - v_t
    A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1},   done_t = terminated_t or truncated_t
    A_{T-1} = delta_{T-1}   (the rollout's last step does not look past the rollout)
    R_t     = A_t + v_t

    With ``bootstrap_truncation=False`` truncated steps are treated exactly as
    terminated ones (CleanRL's and baselines' behaviour).

    All inputs (T,) or (T, N), the same shape; flags boolean (or 0/1).
    Returns ``(advantages, returns)``, both of that shape.
    """
    done = terminated | truncated
    if not bootstrap_truncation:
        terminated = done
    delta = rewards + gamma * (~terminated).astype(rewards.dtype) * next_values - values  # (T, N)
    carry = gamma * gae_lambda * (~done).astype(rewards.dtype)  # (T, N)
    advantages = np.empty_like(delta)
    last = np.zeros_like(delta[0])
    for t in range(delta.shape[0] - 1, -1, -1):
        last = delta[t] + carry[t] * last
        advantages[t] = last
    return advantages, advantages + values


gae = checked(gae, check_gae)
