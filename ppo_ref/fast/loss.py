"""core.losses.ppo_loss without argument checks on its arrays, its gradients written
into the optimiser's packed gradient buffer: the core's policy and value losses
between the fast engine's forward and backward passes."""

from ppo_ref.core.losses import policy_loss, value_loss
from ppo_ref.fast.nets import mlp_backward, mlp_forward


def ppo_loss(params, obs, actions, logprobs_old, advantages, returns, values_old,
             clip_coef, ent_coef, vf_coef, clip_vloss, norm_adv, out):
    """``(loss, grads, info)`` as core.losses.ppo_loss returns them, with ``grads``
    the arrays of ``out`` (a dict of arrays by parameter name) they were written into."""
    mu, pi_cache = mlp_forward(params, "pi", obs)  # (M, A)
    pg_loss, ent, dmu, dlog_std, info = policy_loss(mu, params["log_std"], actions, logprobs_old, advantages,
                                                    clip_coef, ent_coef, norm_adv)
    v, v_cache = mlp_forward(params, "v", obs)  # (M, 1)
    v_loss, dv = value_loss(v[:, 0], values_old, returns, clip_coef, vf_coef, clip_vloss)
    grads = mlp_backward(dmu, pi_cache, out)
    grads.update(mlp_backward(dv[:, None], v_cache, out))
    grads["log_std"] = out["log_std"]
    grads["log_std"][...] = dlog_std
    info = {"pg_loss": float(pg_loss), "v_loss": float(v_loss), **info}
    return float(pg_loss - ent_coef * ent + vf_coef * v_loss), grads, info
