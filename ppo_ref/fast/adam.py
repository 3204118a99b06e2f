"""Adam over all parameters packed into one buffer: core.optim.adam_step's body
applied to the buffer in blocks of CHUNK elements, a few blocks per step instead of
one update per array, each block's temporaries small enough to stay in cache (on the
whole buffer at once they cost several times as much as the arithmetic)."""

import numpy as np

from ppo_ref.core.optim import adam_step

CHUNK = 16384  # elements of each block adam_step's body is applied to


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
        blocks = [slice(i, i + CHUNK) for i in range(0, n, CHUNK)]
        self._blocks = tuple({i: buf[b] for i, b in enumerate(blocks)} for buf in (self.flat, self.grad))
        self.state = {"m": {i: self.m[b] for i, b in enumerate(blocks)},
                      "v": {i: self.v[b] for i, b in enumerate(blocks)}, "t": state["t"]}

    def step(self, scale, lr):
        """One Adam step on the gradients in ``self.grads`` multiplied by ``scale``."""
        self.grad *= scale
        adam_step.unchecked(*self._blocks, self.state, lr)

    def unpack(self, params, state):
        for k, view in self.params.items():
            params[k][...] = view
        for key, flat in (("m", self.m), ("v", self.v)):
            for k, view in _views(flat, self.shapes).items():
                state[key][k][...] = view
        state["t"] = self.state["t"]
