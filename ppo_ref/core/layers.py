"""Linear and tanh layers as forward/backward pairs, and orthogonal initialisation.

Weight layout: ``W`` has shape ``(in, out)`` and a layer computes ``y = x @ W + b``.
A PyTorch ``nn.Linear`` stores ``weight`` as ``(out, in)`` and computes
``x @ weight.T + bias``, so ``weight = W.T`` (see docs/porting.md).

Each ``*_forward`` returns ``(y, cache)``; each ``*_backward`` takes the upstream
gradient ``dy = dL/dy`` and that cache and returns the downstream gradients. No
layer keeps hidden state.
"""

import numpy as np

from ppo_ref.core.checks import as_float_array


def linear_forward(x, W, b):
    """``y = x @ W + b``.

    x: (M, in), W: (in, out), b: (out,) -> y: (M, out); cache = (x, W).
    """
    x = as_float_array("x", x, ndim=2)
    W = as_float_array("W", W, ndim=2)
    b = as_float_array("b", b, ndim=1)
    if x.shape[1] != W.shape[0]:
        raise ValueError(f"x has {x.shape[1]} features (shape {x.shape}) but W (in, out) has {W.shape[0]} inputs "
                         f"(shape {W.shape})")
    if b.shape != (W.shape[1],):
        raise ValueError(f"b must have shape ({W.shape[1]},) to match W {W.shape}, got {b.shape}")
    return linear_forward_unchecked(x, W, b)


def linear_forward_unchecked(x, W, b):
    """:func:`linear_forward` without argument checks, for the MLP's hot path."""
    return x @ W + b, (x, W)


def linear_backward(dy, cache, need_dx=True, out=None):
    """Gradients of ``y = x @ W + b`` given ``dy = dL/dy`` (M, out).

    dL/dx = dy @ W.T       (M, in)     (None when ``need_dx`` is false: a network's
                                        first layer has no use for it)
    dL/dW = x.T @ dy       (in, out)   since dy_mj/dW_ij = x_mi
    dL/db = sum_m dy_m     (out,)

    ``out``: optional arrays ``(dW, db)`` to write the two parameter gradients into.
    """
    x, W = cache
    dW, db = (None, None) if out is None else out
    return (dy @ W.T if need_dx else None), np.matmul(x.T, dy, out=dW), np.sum(dy, axis=0, out=db)


def tanh_forward(x):
    """``y = tanh(x)``, elementwise; the cache is ``y`` itself."""
    y = np.tanh(x)
    return y, y


def tanh_backward(dy, cache):
    """``dL/dx = dy * (1 - y^2)`` since ``tanh'(x) = 1 - tanh(x)^2``."""
    y = cache
    return dy * (1.0 - y * y)


def orthogonal(rng, n_in, n_out, gain):
    """Orthogonal weight of shape ``(n_in, n_out)`` scaled by ``gain``.

    Follows ``torch.nn.init.orthogonal_`` on the PyTorch layout ``(out, in)``:
    draw ``G ~ N(0, 1)`` of shape (out, in), transpose it if out < in, take
    ``Q, R = qr(G)``, multiply column j of Q by ``sign(R_jj)`` (so the result is
    unique and Haar-distributed), transpose back if needed, scale by ``gain``.
    The returned array is that matrix transposed into ppo_ref's (in, out) layout.
    """
    rows, cols = n_out, n_in
    g = rng.standard_normal((rows, cols))  # (out, in), torch's layout
    if rows < cols:
        g = g.T
    q, r = np.linalg.qr(g)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return gain * q.T  # (in, out)
