"""core.losses.ppo_loss without argument checks on its arrays, its gradients written
into the optimiser's packed gradient buffer: the core's policy and value losses
between the fast engine's forward and backward passes, in two halves that share
no parameter (split.py computes them in two processes)."""

from ppo_ref.core.agent import grad_norm_order
from ppo_ref.core.losses import policy_loss, value_loss
from ppo_ref.fast.nets import mlp_backward, mlp_forward


def policy_part(params, obs, actions, logprobs_old, advantages, clip_coef, ent_coef, norm_adv, out):
    """The policy half: ``(pg_loss, entropy, info)``, with the gradients of pi.* and
    log_std written into ``out``."""
    mu, pi_cache = mlp_forward(params, "pi", obs)  # (M, A)
    pg_loss, ent, dmu, dlog_std, info = policy_loss(mu, params["log_std"], actions, logprobs_old, advantages,
                                                    clip_coef, ent_coef, norm_adv)
    mlp_backward(dmu, pi_cache, out)
    out["log_std"][...] = dlog_std
    return pg_loss, ent, info


def value_part(params, obs, returns, values_old, clip_coef, vf_coef, clip_vloss, out):
    """The value half: ``L_v``, with the gradients of v.* written into ``out``."""
    v, v_cache = mlp_forward(params, "v", obs)  # (M, 1)
    v_loss, dv = value_loss(v[:, 0], values_old, returns, clip_coef, vf_coef, clip_vloss)
    mlp_backward(dv[:, None], v_cache, out)
    return v_loss


def total(pg_loss, ent, v_loss, ent_coef, vf_coef, info):
    """``(loss, info)`` from the two halves, as core.losses.ppo_loss adds them up."""
    return float(pg_loss - ent_coef * ent + vf_coef * v_loss), {"pg_loss": float(pg_loss), "v_loss": float(v_loss),
                                                                 **info}


def ppo_loss(params, obs, actions, logprobs_old, advantages, returns, values_old,
             clip_coef, ent_coef, vf_coef, clip_vloss, norm_adv, out):
    """``(loss, grads, info)`` as core.losses.ppo_loss returns them, with ``grads``
    the arrays of ``out`` (a dict of arrays by parameter name) they were written into."""
    pg_loss, ent, info = policy_part(params, obs, actions, logprobs_old, advantages, clip_coef, ent_coef, norm_adv,
                                     out)
    v_loss = value_part(params, obs, returns, values_old, clip_coef, vf_coef, clip_vloss, out)
    loss, info = total(pg_loss, ent, v_loss, ent_coef, vf_coef, info)
    return loss, {name: out[name] for name in grad_norm_order(params)}, info
