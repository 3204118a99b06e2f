"""The PPO loss of SPEC 5 for one minibatch, with its gradient for every parameter.

Schulman et al. 2017, "Proximal Policy Optimization Algorithms", eq. (7), written
as a loss to minimise, plus the clipped value loss and entropy bonus of OpenAI
baselines' ``ppo2``.

Minibatch arrays (M samples): obs (M, D), actions (M, A) (unclipped, as sampled),
logprobs_old (M,), advantages (M,), returns (M,), values_old (M,).
"""

import numpy as np

from ppo_ref.core.checks import as_float_array, real_in_range, same_shape
from ppo_ref.core.distributions import entropy_unchecked, log_prob_grads, log_prob_unchecked
from ppo_ref.core.mlp import layer_names, mlp_backward, mlp_forward, num_layers

ADV_EPS = 1e-8


def normalize_advantages(adv):
    """``(A - mean(A)) / (std(A, ddof=1) + 1e-8)``; the sample std, as torch's ``std()``."""
    return (adv - adv.mean()) / (adv.std(ddof=1) + ADV_EPS)


def max_tie_weight(x, y):
    """Share of ``d max(x, y)`` that flows to ``x``: 1 where x > y, 0 where x < y,
    and 0.5 at exact ties (torch.maximum's convention)."""
    return np.where(x > y, 1.0, np.where(x == y, 0.5, 0.0))


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


def ppo_loss(params, obs, actions, logprobs_old, advantages, returns, values_old, *,
             clip_coef=0.2, ent_coef=0.0, vf_coef=0.5, clip_vloss=True, norm_adv=True):
    """Total loss ``L = L_pi - ent_coef * mean(entropy) + vf_coef * L_v`` and ``dL/dparams``.

    Returns ``(loss, grads, info)``: ``grads`` has one array per parameter, the
    shape of the parameter; ``info`` holds ``pg_loss``, ``v_loss``, ``entropy``,
    ``approx_kl`` = mean((rho - 1) - log rho) and ``clipfrac`` = mean(|rho - 1| > eps).
    """
    obs = as_float_array("obs", obs, ndim=2)
    m = obs.shape[0]
    actions = as_float_array("actions", actions, ndim=2)
    if actions.shape[0] != m:
        raise ValueError(f"actions must have {m} rows like obs {obs.shape}, got {actions.shape}")
    logprobs_old = as_float_array("logprobs_old", logprobs_old, ndim=1)
    if logprobs_old.shape != (m,):
        raise ValueError(f"logprobs_old must have shape ({m},) like obs {obs.shape}, got {logprobs_old.shape}")
    advantages = as_float_array("advantages", advantages, ndim=1)
    returns = as_float_array("returns", returns, ndim=1)
    values_old = as_float_array("values_old", values_old, ndim=1)
    same_shape("advantages", advantages, "logprobs_old", logprobs_old)
    same_shape("returns", returns, "logprobs_old", logprobs_old)
    same_shape("values_old", values_old, "logprobs_old", logprobs_old)
    _check_params_fit(params, obs, actions)
    if norm_adv and m < 2:
        raise ValueError(f"norm_adv needs a minibatch of at least 2 samples (std with ddof=1), got {m}")
    real_in_range("clip_coef", clip_coef, 0.0, low_open=True)
    real_in_range("ent_coef", ent_coef, 0.0)
    real_in_range("vf_coef", vf_coef, 0.0)
    return ppo_loss_unchecked(params, obs, actions, logprobs_old, advantages, returns, values_old,
                              clip_coef, ent_coef, vf_coef, clip_vloss, norm_adv)


def _check_params_fit(params, obs, actions):
    """Every parameter is finite, and obs and actions have the dims the networks
    and log_std expect (a size-1 action axis would otherwise broadcast silently)."""
    for name, p in params.items():
        as_float_array(f"params[{name!r}]", p)
    act_dim = params["log_std"].shape[0]
    pi_out = params[layer_names("pi", num_layers(params, "pi") - 1)[0]].shape[1]
    if pi_out != act_dim:
        raise ValueError(f"params['log_std'] has {act_dim} action dims but the policy network outputs {pi_out}")
    for net in ("pi", "v"):
        d_in = params[layer_names(net, 0)[0]].shape[0]
        if obs.shape[1] != d_in:
            raise ValueError(f"obs has {obs.shape[1]} dims (shape {obs.shape}) but params['{net}.W0'] expects {d_in}")
    if actions.shape[1] != act_dim:
        raise ValueError(f"actions have {actions.shape[1]} dims (shape {actions.shape}) but params['log_std'] "
                         f"has {act_dim}")


def ppo_loss_unchecked(params, obs, actions, logprobs_old, advantages, returns, values_old,
                       clip_coef, ent_coef, vf_coef, clip_vloss, norm_adv, out=None):
    """:func:`ppo_loss` without argument checks, for the training loop.

    The loss is the sum of a policy part (``pi.*`` and ``log_std``) and a value part
    (``v.*``) that share no parameter; each is computed by its own function.
    ``out``: arrays to write each gradient into (a dict by parameter name, e.g.
    views of the optimiser's packed gradient buffer), or None.
    """
    pg_loss, ent, pi_grads, info = policy_loss_unchecked(params, obs, actions, logprobs_old, advantages,
                                                         clip_coef, ent_coef, norm_adv, out)
    v_loss, v_grads = value_loss_unchecked(params, obs, returns, values_old, clip_coef, vf_coef, clip_vloss, out)
    loss = pg_loss - ent_coef * ent + vf_coef * v_loss
    # The gradients in a fixed order (global_grad_norm sums in this order).
    grads = {k: pi_grads[k] for k in pi_grads if k != "log_std"}
    grads.update(v_grads)
    grads["log_std"] = pi_grads["log_std"]
    info = {"pg_loss": float(pg_loss), "v_loss": float(v_loss), **info}
    return float(loss), grads, info


def policy_loss_unchecked(params, obs, actions, logprobs_old, advantages, clip_coef, ent_coef, norm_adv, out=None):
    """The policy part ``L_pi - ent_coef * mean(entropy)`` of the loss and its
    gradient for ``pi.*`` and ``log_std``.

    Returns ``(pg_loss, entropy, grads, info)`` with ``info`` holding ``entropy``,
    ``approx_kl`` and ``clipfrac``. ``out``: as for :func:`ppo_loss_unchecked`.
    """
    m = obs.shape[0]
    log_std = params["log_std"]
    mu, pi_cache = mlp_forward(params, "pi", obs)  # (M, A)

    logprob = log_prob_unchecked(actions, mu, log_std)  # (M,)
    logratio = logprob - logprobs_old
    ratio = np.exp(logratio)
    adv = normalize_advantages(advantages) if norm_adv else advantages

    pg_terms, dratio = clipped_surrogate(ratio, adv, clip_coef)
    pg_loss = pg_terms.mean()
    ent = entropy_unchecked(log_std)  # the same for every state, so mean(entropy) = entropy

    # Chain rule. dL/dlogprob = dL/drho * rho, since rho = exp(logprob - logprob_old).
    dlogprob = dratio * ratio / m  # (M,)
    dlp_dmu, dlp_dlog_std = log_prob_grads(actions, mu, log_std)  # (M, A) each
    dmu = dlogprob[:, None] * dlp_dmu  # (M, A)
    _, grads = mlp_backward(dmu, pi_cache, need_dx=False, out=out)
    # d entropy / d log_std = 1 per dim.
    grads["log_std"] = np.subtract(dlogprob @ dlp_dlog_std, ent_coef,
                                   out=None if out is None else out["log_std"])
    info = {
        "entropy": ent,
        "approx_kl": float(np.mean((ratio - 1.0) - logratio)),
        "clipfrac": float(np.mean(np.abs(ratio - 1.0) > clip_coef)),
    }
    return pg_loss, ent, grads, info


def value_loss_unchecked(params, obs, returns, values_old, clip_coef, vf_coef, clip_vloss, out=None):
    """The value loss ``L_v`` (without ``vf_coef``) and the gradient of ``vf_coef * L_v``
    for ``v.*``. Returns ``(v_loss, grads)``; ``out`` as for :func:`ppo_loss_unchecked`."""
    m = obs.shape[0]
    v_out, v_cache = mlp_forward(params, "v", obs)  # (M, 1)
    v = v_out[:, 0]
    v_terms, dv_terms = value_loss_terms(v, values_old, returns, clip_coef, clip_vloss)
    v_loss = 0.5 * v_terms.mean()
    dv = (vf_coef * 0.5 / m) * dv_terms  # (M,)
    _, grads = mlp_backward(dv[:, None], v_cache, need_dx=False, out=out)
    return v_loss, grads


def explained_variance(values, returns):
    """``1 - var(R - v) / var(R)``: 1 is perfect, 0 is no better than a constant.
    NaN when the returns have zero variance."""
    var_r = np.var(returns)
    return float("nan") if var_r == 0 else float(1.0 - np.var(returns - values) / var_r)
