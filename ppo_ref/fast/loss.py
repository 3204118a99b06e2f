"""core.losses.ppo_loss without argument checks, its gradients written into the
optimiser's packed gradient buffer: the same operations on the same numbers."""

import numpy as np

from ppo_ref.core.distributions import LOG_2PI, log_prob_grads
from ppo_ref.core.losses import clipped_surrogate, normalize_advantages, value_loss_terms
from ppo_ref.fast.nets import mlp_backward, mlp_forward


def log_prob(a, mu, log_std):
    """core.distributions.log_prob without argument checks."""
    var = np.exp(2.0 * log_std)
    return np.sum(-((a - mu) ** 2) / (2.0 * var) - log_std - 0.5 * LOG_2PI, axis=-1)


def entropy(log_std):
    """core.distributions.entropy without argument checks."""
    return float(np.sum(log_std + 0.5 * (1.0 + LOG_2PI)))


def ppo_loss(params, obs, actions, logprobs_old, advantages, returns, values_old,
             clip_coef, ent_coef, vf_coef, clip_vloss, norm_adv, out):
    """``(loss, grads, info)`` as core.losses.ppo_loss returns them, with ``grads``
    the arrays of ``out`` (a dict of arrays by parameter name) they were written into."""
    m = obs.shape[0]
    log_std = params["log_std"]

    mu, pi_cache = mlp_forward(params, "pi", obs)  # (M, A)
    logprob = log_prob(actions, mu, log_std)  # (M,)
    logratio = logprob - logprobs_old
    ratio = np.exp(logratio)
    adv = normalize_advantages(advantages) if norm_adv else advantages
    pg_terms, dratio = clipped_surrogate(ratio, adv, clip_coef)
    pg_loss = pg_terms.mean()
    ent = entropy(log_std)
    dlogprob = dratio * ratio / m  # (M,)
    dlp_dmu, dlp_dlog_std = log_prob_grads(actions, mu, log_std)  # (M, A) each
    grads = mlp_backward(dlogprob[:, None] * dlp_dmu, pi_cache, out)

    v_out, v_cache = mlp_forward(params, "v", obs)  # (M, 1)
    v_terms, dv_terms = value_loss_terms(v_out[:, 0], values_old, returns, clip_coef, clip_vloss)
    v_loss = 0.5 * v_terms.mean()
    dv = (vf_coef * 0.5 / m) * dv_terms  # (M,)
    grads.update(mlp_backward(dv[:, None], v_cache, out))

    grads["log_std"] = np.subtract(dlogprob @ dlp_dlog_std, ent_coef, out=out["log_std"])
    info = {
        "pg_loss": float(pg_loss),
        "v_loss": float(v_loss),
        "entropy": ent,
        "approx_kl": float(np.mean((ratio - 1.0) - logratio)),
        "clipfrac": float(np.mean(np.abs(ratio - 1.0) > clip_coef)),
    }
    return float(pg_loss - ent_coef * ent + vf_coef * v_loss), grads, info
