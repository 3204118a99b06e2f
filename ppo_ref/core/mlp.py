"""The tanh MLP of SPEC 1: in -> 64 -> 64 -> out, tanh hidden, linear output.

Parameters live in a flat dict of named arrays: an MLP with prefix ``p`` has
``p.W0, p.b0, p.W1, p.b1, p.W2, p.b2`` (W in (in, out) layout, see layers.py).
"""

import numpy as np

from .checks import check_mlp_forward, checked
from .layers import linear_backward, linear_forward, orthogonal, tanh_backward, tanh_forward

HIDDEN = (64, 64)


def layer_names(prefix, i):
    return f"{prefix}.W{i}", f"{prefix}.b{i}"


def num_layers(params, prefix):
    n = 0
    while f"{prefix}.W{n}" in params:
        n += 1
    return n


def mlp_init(rng, prefix, sizes, hidden_gain, output_gain):
    """Orthogonal weights (gain ``hidden_gain`` for hidden layers, ``output_gain``
    for the last), zero biases; ``sizes = (in, h1, ..., out)``. Layers are drawn
    from ``rng`` in order, input layer first."""
    params = {}
    n = len(sizes) - 1
    for i in range(n):
        w, b = layer_names(prefix, i)
        params[w] = orthogonal(rng, sizes[i], sizes[i + 1], output_gain if i == n - 1 else hidden_gain)
        params[b] = np.zeros(sizes[i + 1])
    return params


def mlp_forward(params, prefix, x, start=0):
    """``h_0 = x``, ``h_{i+1} = tanh(h_i @ W_i + b_i)`` for hidden layers, and a
    linear last layer. x: (M, in) -> y: (M, out); the cache holds each layer's.
    ``start``: run the layers from ``start`` on, with ``x`` that layer's input
    (h_start), for a caller that computed the layers before it another way."""
    n = num_layers(params, prefix)
    caches = []
    h = x
    for i in range(start, n):
        w, b = layer_names(prefix, i)
        h, lin_cache = linear_forward.unchecked(h, params[w], params[b])
        tanh_cache = None
        if i < n - 1:
            h, tanh_cache = tanh_forward(h)
        caches.append((lin_cache, tanh_cache))
    return h, (prefix, caches)


mlp_forward = checked(mlp_forward, check_mlp_forward)


def mlp_backward(dy, cache, need_dx=True):
    """Backpropagate ``dy = dL/dy`` (M, out) through the MLP, last layer first.

    Returns ``(dx, grads)``: ``grads`` by parameter name, in the order computed
    (the last layer's ``W``, ``b`` first); ``dx = dL/dx`` is None when ``need_dx``
    is false (the loss needs no gradient for the observations).
    """
    prefix, caches = cache
    grads = {}
    d = dy
    for i in reversed(range(len(caches))):
        lin_cache, tanh_cache = caches[i]
        if tanh_cache is not None:
            d = tanh_backward(d, tanh_cache)
        w, b = layer_names(prefix, i)
        d, grads[w], grads[b] = linear_backward(d, lin_cache, need_dx or i > 0)
    return d, grads
