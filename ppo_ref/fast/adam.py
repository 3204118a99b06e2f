"""Adam over all parameters packed into one buffer: one elementwise update per step
instead of one per array, core.optim.adam_step's body applied to the whole buffer."""

import numpy as np

from ppo_ref.core.optim import adam_step


def _views(flat, shapes):
    views, offset = {}, 0
    for k, shape in shapes.items():
        n = int(np.prod(shape))
        views[k] = flat[offset:offset + n].reshape(shape)
        offset += n
    return views


class PackedAdam:
    """``self.params`` (views of the packed parameter buffer, in the caller's order)
    are what the networks read during the update, ``self.grads`` (views of the
    packed gradient buffer) what the loss writes into; :meth:`unpack` copies
    parameters and moments back into the caller's dicts."""

    def __init__(self, params, state):
        n = sum(p.size for p in params.values())
        dtype = next(iter(params.values())).dtype
        self.flat, self.m, self.v, self.grad = (np.empty(n, dtype) for _ in range(4))
        self.shapes = {k: p.shape for k, p in params.items()}
        self.params = _views(self.flat, self.shapes)
        self.grads = _views(self.grad, self.shapes)
        for flat, source in ((self.flat, params), (self.m, state["m"]), (self.v, state["v"])):
            for k, view in _views(flat, self.shapes).items():
                view[...] = source[k]
        self.state = {"m": {"all": self.m}, "v": {"all": self.v}, "t": state["t"]}

    def step(self, scale, lr):
        """One Adam step on the gradients in ``self.grads`` multiplied by ``scale``."""
        self.grad *= scale
        adam_step.unchecked({"all": self.flat}, {"all": self.grad}, self.state, lr)

    def unpack(self, params, state):
        for k, view in self.params.items():
            params[k][...] = view
        for key, flat in (("m", self.m), ("v", self.v)):
            for k, view in _views(flat, self.shapes).items():
                state[key][k][...] = view
        state["t"] = self.state["t"]
