"""Finite differences and tolerances, named once, for ppo_ref's tests and for ports.

A port can import this module to check its own backward passes the way ppo_ref
checks its own.
"""

import numpy as np

FD_STEP = 1e-6
"""Central-difference step in float64: truncation error O(h^2) ~ 1e-12 balanced
against round-off O(eps / h) ~ 1e-10."""

GRAD_RTOL = 1e-6
"""Largest accepted relative error between an analytic and a numerical gradient."""

FLOAT64_RTOL = 1e-12
"""Two float64 computations of the same formula in a different order agree to this."""


def numerical_gradient(f, x, h=FD_STEP):
    """Central differences of the scalar function ``f()`` with respect to the array
    ``x``, which is perturbed in place one element at a time and restored.

    df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / (2 h)

    Elements are addressed by index, not through a flattened view, so that ``x``
    may have any memory layout (a reshape of a non-C-contiguous array is a copy,
    and perturbing a copy would silently give a zero gradient).
    """
    grad = np.zeros(x.shape, dtype=x.dtype)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        f_plus = f()
        x[i] = old - h
        f_minus = f()
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2.0 * h)
    return grad


def rel_error(analytic, numeric):
    """``max|a - n| / max(max|a|, max|n|, 1e-8)``: the worst absolute error relative
    to the array's scale.

    Relative to the whole array rather than element by element, so that an element
    whose true gradient is ~0 is judged against the gradient's scale, not against
    round-off; the floor keeps an all-zero gradient from dividing 0 by 0.
    """
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    scale = max(float(np.max(np.abs(analytic), initial=0.0)), float(np.max(np.abs(numeric), initial=0.0)), 1e-8)
    return float(np.max(np.abs(analytic - numeric), initial=0.0)) / scale
