"""The PPO loss of SPEC 5 for one minibatch, with its gradient for every parameter.

Schulman et al. 2017, "Proximal Policy Optimization Algorithms", eq. (7), written
as a loss to minimise, plus the clipped value loss and entropy bonus of OpenAI
baselines' ``ppo2``.

Minibatch arrays (M samples): obs (M, D), actions (M, A) (unclipped, as sampled),
logprobs_old (M,), advantages (M,), returns (M,), values_old (M,).
"""

import numpy as np

from .checks import check_ppo_loss, checked
from .distributions import entropy, log_prob, log_prob_grads
from .mlp import mlp_backward, mlp_forward

ADV_EPS = 1e-8


def normalize_advantages(adv):
    """``(A - mean(A)) / (std(A, ddof=1) + 1e-8)``; the sample std, as torch's ``std()``."""
    return (adv - adv.mean()) / (adv.std(ddof=1) + ADV_EPS)


def max_tie_weight(x, y):
    """Share of ``d max(x, y)`` that flows to ``x``: 1 where x > y, 0 where x < y,
    and 0.5 at exact ties (torch.maximum's convention)."""
    return np.where(x > y, 1.0, np.where(x == y, 0.5, 0.0)).astype(x.dtype)


def clipped_surrogate(ratio, adv, clip_coef):
    """Per-sample policy loss and its derivative in the ratio.

    l = max(-A rho, -A clip(rho, 1 - eps, 1 + eps))
    dl/drho = w (-A) + (1 - w) (-A) [1 - eps <= rho <= 1 + eps]
    with w the tie weight of :func:`max_tie_weight`. Hence dl/drho = -A inside the
    clip range (the two terms tie there) or where the unclipped term is strictly
    larger, and exactly 0 where the clipped term is strictly larger.
    """
    pg1 = -adv * ratio
    pg2 = -adv * np.clip(ratio, 1.0 - clip_coef, 1.0 + clip_coef)
    w = max_tie_weight(pg1, pg2)
    in_range = (ratio >= 1.0 - clip_coef) & (ratio <= 1.0 + clip_coef)
    dratio = -adv * (w + (1.0 - w) * in_range)
    return np.maximum(pg1, pg2), dratio


def value_loss_terms(v, values_old, returns, clip_coef, clip_vloss):
    """Per-sample value loss (before the 0.5 and the mean) and its derivative in v.

    unclipped:  l = (v - R)^2,                                   dl/dv = 2 (v - R)
    clipped:    v_c = v_old + clip(v - v_old, -eps, eps)
                l = max((v - R)^2, (v_c - R)^2)
                dl/dv = w 2 (v - R) + (1 - w) 2 (v_c - R) [|v - v_old| <= eps]
    """
    err = v - returns
    if not clip_vloss:
        return err * err, 2.0 * err
    delta = v - values_old
    v_c = values_old + np.clip(delta, -clip_coef, clip_coef)
    err_c = v_c - returns
    l1, l2 = err * err, err_c * err_c
    w = max_tie_weight(l1, l2)
    in_range = (delta >= -clip_coef) & (delta <= clip_coef)
    return np.maximum(l1, l2), 2.0 * (w * err + (1.0 - w) * err_c * in_range)


def policy_loss(mu, log_std, actions, logprobs_old, advantages, clip_coef, ent_coef, norm_adv):
    """``L_pi - ent_coef * mean(entropy)`` given the policy means ``mu`` (M, A).

    Returns ``(pg_loss, entropy, dmu, dlog_std, info)``: dL/dmu (M, A), dL/dlog_std
    (A,), and ``info`` with ``entropy``, ``approx_kl`` = mean((rho - 1) - log rho)
    and ``clipfrac`` = mean(|rho - 1| > eps).
    """
    logprob = log_prob.unchecked(actions, mu, log_std)  # (M,)
    logratio = logprob - logprobs_old
    ratio = np.exp(logratio)
    adv = normalize_advantages(advantages) if norm_adv else advantages
    pg_terms, dratio = clipped_surrogate(ratio, adv, clip_coef)
    ent = entropy.unchecked(log_std)  # the same for every state, so mean(entropy) = entropy
    dlogprob = dratio * ratio / mu.shape[0]  # dL/dlogprob = dL/drho * rho, as rho = exp(logprob - logprob_old)
    dlp_dmu, dlp_dlog_std = log_prob_grads(actions, mu, log_std)  # (M, A) each
    dlog_std = dlogprob @ dlp_dlog_std - ent_coef  # d entropy / d log_std = 1 per dim
    info = {"entropy": ent, "approx_kl": float(np.mean((ratio - 1.0) - logratio)),
            "clipfrac": float(np.mean(np.abs(ratio - 1.0) > clip_coef))}
    return pg_terms.mean(), ent, dlogprob[:, None] * dlp_dmu, dlog_std, info


def value_loss(v, values_old, returns, clip_coef, vf_coef, clip_vloss):
    """``L_v`` given the values ``v`` (M,); returns ``(L_v, d(vf_coef * L_v)/dv)``."""
    v_terms, dv_terms = value_loss_terms(v, values_old, returns, clip_coef, clip_vloss)
    return 0.5 * v_terms.mean(), (vf_coef * 0.5 / v.shape[0]) * dv_terms


def loss_at_outputs(params, obs, actions, logprobs_old, advantages, returns, values_old,
                    clip_coef, ent_coef, vf_coef, clip_vloss, norm_adv):
    """The networks' forward passes and the total loss, with its gradient at the
    networks' outputs: ``(loss, info, (dmu, pi_cache), (dv, v_cache), dlog_std)``,
    dmu = dL/dmu (M, A), dv = dL/dV (M, 1), the caches of core.mlp.mlp_forward to
    backpropagate them through each network, dlog_std = dL/dlog_std (A,)."""
    mu, pi_cache = mlp_forward.unchecked(params, "pi", obs)  # (M, A)
    pg_loss, ent, dmu, dlog_std, info = policy_loss(mu, params["log_std"], actions, logprobs_old, advantages,
                                                    clip_coef, ent_coef, norm_adv)
    v, v_cache = mlp_forward.unchecked(params, "v", obs)  # (M, 1)
    v_loss, dv = value_loss(v[:, 0], values_old, returns, clip_coef, vf_coef, clip_vloss)
    info = {"pg_loss": float(pg_loss), "v_loss": float(v_loss), **info}
    loss = float(pg_loss - ent_coef * ent + vf_coef * v_loss)
    return loss, info, (dmu, pi_cache), (dv[:, None], v_cache), dlog_std


def ppo_loss(params, obs, actions, logprobs_old, advantages, returns, values_old, *,
             clip_coef=0.2, ent_coef=0.0, vf_coef=0.5, clip_vloss=True, norm_adv=True):
    """Total loss ``L = L_pi - ent_coef * mean(entropy) + vf_coef * L_v`` and ``dL/dparams``.

    Returns ``(loss, grads, info)``: ``grads`` by parameter name in backpropagation's order
    (agent.grad_norm_order); ``info``: ``pg_loss``, ``v_loss``, :func:`policy_loss`'s diagnostics.
    """
    loss, info, (dmu, pi_cache), (dv, v_cache), dlog_std = loss_at_outputs(
        params, obs, actions, logprobs_old, advantages, returns, values_old,
        clip_coef, ent_coef, vf_coef, clip_vloss, norm_adv)
    grads = mlp_backward(dmu, pi_cache, need_dx=False)[1]
    grads.update(mlp_backward(dv, v_cache, need_dx=False)[1])
    grads["log_std"] = dlog_std
    return loss, grads, info


ppo_loss = checked(ppo_loss, check_ppo_loss)


def explained_variance(values, returns):
    """``1 - var(R - v) / var(R)``: 1 is perfect, 0 is no better than a constant.
    NaN when the returns have zero variance."""
    var_r = np.var(returns)
    return float("nan") if var_r == 0 else float(1.0 - np.var(returns - values) / var_r)
