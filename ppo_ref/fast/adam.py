"""Adam over all parameters packed into one buffer: one elementwise update per step
instead of one per array, no allocation per step, the numbers of core.optim.adam_step."""

import numpy as np

from ppo_ref.core.optim import ADAM_BETA1, ADAM_BETA2, ADAM_EPS


def pack(named, names):
    """Copy the arrays ``named[k]`` for k in ``names`` into one contiguous buffer
    (of their dtype). Returns ``(flat, views)``: ``views[k]`` is a view of ``flat``
    with the shape of ``named[k]``, so updating ``flat`` updates every view."""
    flat = np.empty(sum(named[k].size for k in names), dtype=named[names[0]].dtype)
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


def adam_apply(p, g, m, v, t, lr, work, beta1=ADAM_BETA1, beta2=ADAM_BETA2, eps=ADAM_EPS):
    """core.optim.adam_step's update of one array at step ``t``, in place, with the
    two scratch arrays ``work`` of ``p``'s shape for the intermediate results:

        m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) (g g)
        p -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    """
    step_size = lr / (1.0 - beta1**t)
    bias_correction2_sqrt = float(np.sqrt(1.0 - beta2**t))
    a, b = work
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


class PackedAdam:
    """``self.params`` (views of the packed parameter buffer) are what the networks
    read during the update, ``self.grads`` (views of the packed gradient buffer)
    what the loss writes into; :meth:`unpack` copies parameters and moments back
    into the caller's dicts."""

    def __init__(self, params, state):
        self.names = list(params)
        self.flat, self.params = pack(params, self.names)
        self.m, _ = pack(state["m"], self.names)
        self.v, _ = pack(state["v"], self.names)
        self.t = state["t"]
        self.grad = np.empty_like(self.flat)
        self.grads = _views(self.grad, {k: p.shape for k, p in self.params.items()})
        self.work = (np.empty_like(self.flat), np.empty_like(self.flat))

    def step(self, scale, lr):
        """One Adam step on the gradients in ``self.grads`` multiplied by ``scale``."""
        self.grad *= scale
        self.t += 1
        adam_apply(self.flat, self.grad, self.m, self.v, self.t, lr, self.work)

    def unpack(self, params, state):
        shapes = {k: self.params[k].shape for k in self.names}
        for k, view in self.params.items():
            params[k][...] = view
        for key, flat in (("m", self.m), ("v", self.v)):
            for k, view in _views(flat, shapes).items():
                state[key][k][...] = view
        state["t"] = self.t
