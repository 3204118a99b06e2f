"""The networks' forward and backward passes without argument checks, with the
gradients written into given arrays, and both first layers in one product.

The same operations as core/mlp.py and core/agent.py on the same numbers
(property_tests/test_fast_properties.py checks each bit for bit).
"""

from functools import lru_cache

import numpy as np

from ppo_ref.core.layers import tanh_backward
from ppo_ref.core.mlp import layer_names, num_layers


@lru_cache(maxsize=None)
def _names(prefix, n):
    return tuple(layer_names(prefix, i) for i in range(n))


def mlp_forward(params, prefix, x, start=0):
    """core.mlp.mlp_forward from layer ``start`` on (x is then that layer's input)."""
    names = _names(prefix, num_layers(params, prefix))
    caches = []
    h = x
    for i in range(start, len(names)):
        w, b = names[i]
        W = params[w]
        lin_cache = (h, W)
        h = h @ W + params[b]
        tanh_cache = None
        if i < len(names) - 1:
            h = tanh_cache = np.tanh(h)
        caches.append((lin_cache, tanh_cache))
    return h, (prefix, caches)


def mlp_backward(dy, cache, out):
    """core.mlp.mlp_backward without dL/dx, writing each parameter's gradient into
    ``out[name]`` (views of the optimiser's packed gradient buffer)."""
    prefix, caches = cache
    names = _names(prefix, len(caches))
    d = dy
    for i in reversed(range(len(caches))):
        (x, W), tanh_cache = caches[i]
        if tanh_cache is not None:
            d = tanh_backward(d, tanh_cache)
        w, b = names[i]
        np.matmul(x.T, d, out=out[w])
        np.sum(d, axis=0, out=out[b])
        if i > 0:
            d = d @ W.T
    return {name: out[name] for pair in reversed(names) for name in pair}


def joint_first_layer(params):
    """Both networks' first layers side by side, built once per rollout (the
    parameters do not change during one): ``W = [pi.W0 | v.W0]`` (D, 128) and
    ``b = [pi.b0 | v.b0]`` (128,). Each output column of ``obs @ W`` is the same
    dot product, summed in the same order, as in its own network's (D, 64)
    product, because BLAS computes columns in blocks that divide 64 (with widths
    that are not a multiple of 8, OpenBLAS's x86-64 kernels differ in the last
    bit: property_tests/test_fast_properties.py)."""
    return (np.concatenate([params["pi.W0"], params["v.W0"]], axis=1),
            np.concatenate([params["pi.b0"], params["v.b0"]]))


def policy_and_value(params, first, obs):
    """``(mu(s), V(s))`` for obs (M, D): (M, A) and (M,), with ``first`` from
    :func:`joint_first_layer`; the rest of each network from layer 1."""
    W0, b0 = first
    width = params["pi.W0"].shape[1]
    h = np.tanh(obs @ W0 + b0)  # (M, 128): both networks' first hidden layers
    mu = mlp_forward(params, "pi", h[:, :width], start=1)[0]
    v = mlp_forward(params, "v", h[:, width:], start=1)[0]
    return mu, v[:, 0]
