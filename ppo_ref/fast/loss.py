"""The PPO loss with its gradients written into the optimiser's packed gradient
buffer: core.losses.loss_at_outputs, then the backward pass of nets.py into ``out``."""

from ppo_ref.core.agent import grad_norm_order
from ppo_ref.core.losses import loss_at_outputs
from ppo_ref.fast.nets import mlp_backward_into


def loss_into(params, mb, options, out):
    """``(loss, grads, info)`` as core.losses.ppo_loss returns them for the
    minibatch ``mb`` (the update's dict of arrays) and the loss's ``options``
    (update.LossOptions), with ``grads`` the arrays of ``out`` they were written into."""
    loss, info, (dmu, pi_cache), (dv, v_cache), dlog_std = loss_at_outputs(
        params, mb["obs"], mb["actions"], mb["logprobs_old"], mb["advantages"], mb["returns"], mb["values_old"],
        **vars(options))
    mlp_backward_into(dmu, pi_cache, out)
    mlp_backward_into(dv, v_cache, out)
    out["log_std"][...] = dlog_std
    return loss, {k: out[k] for k in grad_norm_order(params)}, info
