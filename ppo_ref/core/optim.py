"""Adam with PyTorch's semantics, global gradient-norm clipping and the linear
learning-rate schedule (SPEC 6).

Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization", with the
bias-corrected update written as ``torch.optim.Adam`` computes it: eps is added to
``sqrt(v_hat)``, after the bias correction of v, not inside the square root.
"""

import numpy as np

from .checks import check_adam_step, check_clip_grad_norm, check_linear_lr, checked

ADAM_BETA1 = 0.9
ADAM_BETA2 = 0.999
ADAM_EPS = 1e-5
GRAD_NORM_EPS = 1e-6


def adam_init(params):
    """Zero first and second moments per parameter, step count 0."""
    return {"m": {k: np.zeros_like(p) for k, p in params.items()},
            "v": {k: np.zeros_like(p) for k, p in params.items()},
            "t": 0}


def adam_step(params, grads, state, lr, beta1=ADAM_BETA1, beta2=ADAM_BETA2, eps=ADAM_EPS):
    """One Adam step, updating ``params`` and ``state`` in place.

    t <- t + 1
    m <- b1 m + (1 - b1) g
    v <- b2 v + (1 - b2) g^2
    p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    """
    state["t"] += 1
    t = state["t"]
    for k, p in params.items():
        m, v, g = state["m"][k], state["v"][k], grads[k]
        m[...] = beta1 * m + (1.0 - beta1) * g
        v[...] = beta2 * v + (1.0 - beta2) * (g * g)
        p -= (lr / (1.0 - beta1**t)) * m / (np.sqrt(v) / float(np.sqrt(1.0 - beta2**t)) + eps)


adam_step = checked(adam_step, check_adam_step)


def global_grad_norm(grads, names=None):
    """Euclidean norm of all gradients taken together as one vector, the squares
    summed left to right in the order of ``names`` (agent.grad_norm_order; default:
    the dict's). A plain loop, not the built-in ``sum()``: since Python 3.12 that
    sum of floats is compensated, and the contract's order would not hold."""
    total = 0.0
    for k in names or grads:
        total += float(np.vdot(grads[k], grads[k]))
    return float(np.sqrt(total))


def clip_grad_norm(grads, max_norm, names=None):
    """Scale all gradients by ``min(1, max_norm / (norm + 1e-6))`` (torch's
    ``clip_grad_norm_``). Returns ``(clipped_grads, norm_before_clipping)``.
    ``names``: the order in which the norm sums (default: the dict's order)."""
    norm = global_grad_norm(grads, names)
    if not np.isfinite(norm):
        raise ValueError(f"grads have a global norm that overflows ({norm}); cannot clip")
    scale = clip_scale(norm, max_norm)
    return {k: g * scale for k, g in grads.items()}, norm


clip_grad_norm = checked(clip_grad_norm, check_clip_grad_norm)


def clip_scale(norm, max_norm):
    """``min(1, max_norm / (norm + 1e-6))``: the factor that clips a gradient of
    norm ``norm`` to at most ``max_norm``."""
    return min(1.0, max_norm / (norm + GRAD_NORM_EPS))


def linear_lr(iteration, num_iterations, lr0):
    """``lr_k = (1 - (k - 1) / K) * lr0`` for iteration k = 1..K (so lr_1 = lr0)."""
    return (1.0 - (iteration - 1.0) / num_iterations) * lr0


linear_lr = checked(linear_lr, check_linear_lr)
