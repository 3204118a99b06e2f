"""Adam over all parameters packed into one buffer: one elementwise update per step
instead of one per array, no allocation per step, the numbers of core.optim.adam_step."""

import numpy as np

from ppo_ref.core.optim import ADAM_BETA1, ADAM_BETA2, ADAM_EPS

BUFFERS = ("flat", "m", "v", "grad", "work0", "work1")  # a PackedAdam's buffers, each of all parameters


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
    """``self.params`` (views of the packed parameter buffer, in the caller's order)
    are what the networks read during the update, ``self.grads`` (views of the
    packed gradient buffer) what the loss writes into; :meth:`unpack` copies
    parameters and moments back into the caller's dicts.

    ``names``: the packing order (default the dict's). ``empty(n, dtype)``: makes
    each of the six buffers (:data:`BUFFERS`, in that order; fast/split.py hands
    out shared memory)."""

    def __init__(self, params, state, names=None, empty=np.empty):
        names = list(names or params)
        n = sum(params[k].size for k in names)
        self.flat, self.m, self.v, self.grad, *work = (empty(n, params[names[0]].dtype) for _ in BUFFERS)
        self.work = tuple(work)
        self.shapes = {k: params[k].shape for k in names}
        packed = _views(self.flat, self.shapes)
        self.params = {k: packed[k] for k in params}
        self.grads = _views(self.grad, self.shapes)
        for flat, source in ((self.flat, params), (self.m, state["m"]), (self.v, state["v"])):
            for k, view in _views(flat, self.shapes).items():
                view[...] = source[k]
        self.t = state["t"]

    def step(self, scale, lr, part=slice(None)):
        """One Adam step on the gradients in ``self.grads`` multiplied by ``scale``,
        of the packed elements ``part`` (default all)."""
        grad = self.grad[part]
        grad *= scale
        self.t += 1
        adam_apply(self.flat[part], grad, self.m[part], self.v[part], self.t, lr, tuple(w[part] for w in self.work))

    def unpack(self, params, state):
        for k, view in self.params.items():
            params[k][...] = view
        for key, flat in (("m", self.m), ("v", self.v)):
            for k, view in _views(flat, self.shapes).items():
                state[key][k][...] = view
        state["t"] = self.t
