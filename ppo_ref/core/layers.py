"""Linear and tanh layers as forward/backward pairs, and orthogonal initialisation (SPEC 1).

Weight layout: ``W`` has shape ``(in, out)`` and a layer computes ``y = x @ W + b``.
A PyTorch ``nn.Linear`` stores ``weight`` as ``(out, in)`` and computes
``x @ weight.T + bias``, so ``weight = W.T`` (see docs/porting.md).

Each ``*_forward`` returns ``(y, cache)``; each ``*_backward`` takes the upstream
gradient ``dy = dL/dy`` and that cache and returns the downstream gradients. No
layer keeps hidden state.
"""

import numpy as np

from .checks import check_linear_forward, checked


def linear_forward(x, W, b):
    """``y = x @ W + b``.  x: (M, in), W: (in, out), b: (out,) -> y: (M, out); cache = (x, W)."""
    return x @ W + b, (x, W)


linear_forward = checked(linear_forward, check_linear_forward)


def linear_backward(dy, cache, need_dx=True):
    """Gradients of ``y = x @ W + b`` given ``dy = dL/dy`` (M, out); returns ``(dx, dW, db)``.

    ``need_dx``: a network's first layer has no use for dL/dx, so it may skip it (None).
    """
    x, W = cache
    dx = dy @ W.T if need_dx else None  # dL/dx = dy @ W.T   (M, in)
    dW = x.T @ dy                        # dL/dW = x.T @ dy   (in, out), since dy_mj/dW_ij = x_mi
    db = np.sum(dy, axis=0)              # dL/db = sum_m dy_m (out,)
    return dx, dW, db


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
