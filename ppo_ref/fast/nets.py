"""Both first layers in one product for the rollout, and the networks' backward
pass writing each gradient into a given array (a view of the optimiser's packed
buffer); everything else is core/mlp.py's forward pass."""

from functools import lru_cache

import numpy as np

from ppo_ref.core.layers import tanh_backward
from ppo_ref.core.mlp import layer_names, mlp_forward


@lru_cache(maxsize=None)
def _names(prefix, n):
    return tuple(layer_names(prefix, i) for i in range(n))


def mlp_backward_into(dy, cache, out):
    """core.mlp.mlp_backward without dL/dx, writing each parameter's gradient into
    ``out[name]``: dW = x.T @ d and db = sum(d) into the buffer, d @ W.T below."""
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
    mu = mlp_forward.unchecked(params, "pi", h[:, :width], start=1)[0]
    v = mlp_forward.unchecked(params, "v", h[:, width:], start=1)[0]
    return mu, v[:, 0]
