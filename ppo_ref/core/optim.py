"""Adam with PyTorch's semantics, global gradient-norm clipping and the linear
learning-rate schedule (SPEC 6).

Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization", with the
bias-corrected update written as ``torch.optim.Adam`` computes it: eps is added to
``sqrt(v_hat)``, after the bias correction of v, not inside the square root.
"""

import numpy as np

from ppo_ref.core.checks import as_float_array, int_in_range, real_in_range

ADAM_BETA1 = 0.9
ADAM_BETA2 = 0.999
ADAM_EPS = 1e-5
GRAD_NORM_EPS = 1e-6


def adam_init(params):
    """Zero first and second moments per parameter, step count 0."""
    return {
        "m": {k: np.zeros_like(p) for k, p in params.items()},
        "v": {k: np.zeros_like(p) for k, p in params.items()},
        "t": 0,
    }


def adam_step(params, grads, state, lr, beta1=ADAM_BETA1, beta2=ADAM_BETA2, eps=ADAM_EPS):
    """One Adam step, updating ``params`` and ``state`` in place.

    t <- t + 1
    m <- b1 m + (1 - b1) g
    v <- b2 v + (1 - b2) g^2
    p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    """
    lr = real_in_range("lr", lr, 0.0)
    if grads.keys() != params.keys():
        raise ValueError(f"grads must have the parameter names {sorted(params)}, got {sorted(grads)}")
    grads = {k: _checked_grad(k, grads[k], p.shape) for k, p in params.items()}
    state["t"] += 1
    for k, p in params.items():
        _adam_apply(p, grads[k], state["m"][k], state["v"][k], state["t"], lr, beta1, beta2, eps)


def _adam_apply(p, g, m, v, t, lr, beta1=ADAM_BETA1, beta2=ADAM_BETA2, eps=ADAM_EPS, work=None):
    """The elementwise Adam update of one array at step ``t``, in place; every
    caller (per named array, or one packed buffer) goes through here.

    ``work``: two scratch arrays of ``p``'s shape for the intermediate results
    (allocated when None). Written with ``out=`` so that the packed buffer's
    update allocates nothing; the operations and their order are those of

        m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) (g g)
        p -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    """
    step_size = lr / (1.0 - beta1**t)
    bias_correction2_sqrt = np.sqrt(1.0 - beta2**t)
    a, b = (np.empty_like(p), np.empty_like(p)) if work is None else work
    m *= beta1
    np.multiply(g, 1.0 - beta1, out=a)
    m += a
    v *= beta2
    np.multiply(g, g, out=a)
    a *= 1.0 - beta2
    v += a
    np.sqrt(v, out=a)
    a /= bias_correction2_sqrt
    a += eps
    np.multiply(m, step_size, out=b)
    b /= a
    p -= b


def pack(named, names):
    """Copy the arrays ``named[k]`` for k in ``names`` into one contiguous float64
    buffer. Returns ``(flat, views)``: ``views[k]`` is a view of ``flat`` with the
    shape of ``named[k]``, so updating ``flat`` updates every view."""
    flat = np.empty(sum(named[k].size for k in names))
    views = _views(flat, {k: named[k].shape for k in names})
    for k in names:
        views[k][...] = named[k]
    return flat, views


def _views(flat, shapes):
    views, offset = {}, 0
    for k, shape in shapes.items():
        n = int(np.prod(shape))
        views[k] = flat[offset:offset + n].reshape(shape)
        offset += n
    return views


class PackedAdam:
    """Adam over all parameters packed into one buffer: one elementwise update per
    step instead of one per array, with results identical to :func:`adam_step`
    (the same elementwise operations on the same numbers).

    ``self.params`` (views of the buffer) are what the networks read during the
    update; :meth:`unpack` copies parameters and moments back into the caller's dicts.
    """

    def __init__(self, params, state):
        self.names = list(params)
        self.flat, self.params = pack(params, self.names)
        self.m, _ = pack(state["m"], self.names)
        self.v, _ = pack(state["v"], self.names)
        self.t = state["t"]
        self.grad = np.empty_like(self.flat)
        self.grads = _views(self.grad, {k: p.shape for k, p in self.params.items()})
        self.work = (np.empty_like(self.flat), np.empty_like(self.flat))

    def step(self, grads, scale, lr):
        """One Adam step on the gradients ``grads`` (a dict) multiplied by ``scale``.
        Gradients already written into ``self.grads`` (views of the packed gradient
        buffer) are not copied."""
        for k in self.names:
            if grads[k] is not self.grads[k]:
                self.grads[k][...] = grads[k]
        self.grad *= scale
        self.t += 1
        _adam_apply(self.flat, self.grad, self.m, self.v, self.t, lr, work=self.work)

    def unpack(self, params, state):
        shapes = {k: self.params[k].shape for k in self.names}
        for k, view in self.params.items():
            params[k][...] = view
        for key, flat in (("m", self.m), ("v", self.v)):
            for k, view in _views(flat, shapes).items():
                state[key][k][...] = view
        state["t"] = self.t


def _checked_grad(name, g, shape=None):
    g = as_float_array(f"grads[{name!r}]", g)
    if shape is not None and g.shape != shape:
        raise ValueError(f"grads[{name!r}] must have the parameter's shape {shape}, got {g.shape}")
    return g


def global_grad_norm(grads):
    """Euclidean norm of all gradients taken together as one vector."""
    return float(np.sqrt(sum(float(np.vdot(g, g)) for g in grads.values())))


def clip_grad_norm(grads, max_norm):
    """Scale all gradients by ``min(1, max_norm / (norm + 1e-6))`` (torch's
    ``clip_grad_norm_``). Returns ``(clipped_grads, norm_before_clipping)``."""
    max_norm = real_in_range("max_norm", max_norm, 0.0, low_open=True)
    if not grads:
        raise ValueError("grads must hold at least one gradient array, got an empty dict")
    grads = {k: _checked_grad(k, g) for k, g in grads.items()}
    norm = global_grad_norm(grads)
    if not np.isfinite(norm):
        raise ValueError(f"grads have a global norm that overflows ({norm}); cannot clip")
    scale = clip_scale(norm, max_norm)
    return {k: g * scale for k, g in grads.items()}, norm


def clip_scale(norm, max_norm):
    """``min(1, max_norm / (norm + 1e-6))``: the factor that clips a gradient of
    norm ``norm`` to at most ``max_norm``."""
    return min(1.0, max_norm / (norm + GRAD_NORM_EPS))


def linear_lr(iteration, num_iterations, lr0):
    """``lr_k = (1 - (k - 1) / K) * lr0`` for iteration k = 1..K (so lr_1 = lr0)."""
    num_iterations = int_in_range("num_iterations", num_iterations, 1)
    iteration = int_in_range("iteration", iteration, 1, num_iterations)
    lr0 = real_in_range("lr0", lr0, 0.0)
    return (1.0 - (iteration - 1.0) / num_iterations) * lr0
