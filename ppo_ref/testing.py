"""Finite differences and tolerances, named once, for ppo_ref's tests and for ports.

A port can import this module to check its own backward passes the way ppo_ref
checks its own: ``check_grads(loss_fn, params, grads)`` compares analytic
gradients with central differences. Every tolerance ppo_ref's tests use is one of
the constants below, each with the reason for its value; a test that needs a new
one adds it here.

float64 throughout: eps = 2.2e-16 is the spacing of floats near 1, and one
rounding changes a result by at most eps / 2 of itself.
"""

import numpy as np

# --- finite differences -----------------------------------------------------------

FD_STEP = 1e-6
"""Central-difference step in float64: truncation error O(h^2) ~ 1e-12 balanced
against round-off O(eps / h) ~ 1e-10."""

FD_ERROR = 1e-8
"""Largest error of a central difference with step FD_STEP in the derivative of a
function whose value and third derivative are of order one: truncation h^2 f''' / 6
~ 1e-13 plus round-off ~ eps |f| / h ~ 2e-10, with a factor 50 to spare. A forward
difference, whose error is ~ h f'' / 2, misses it by two orders of magnitude."""

GRAD_RTOL = 1e-6
"""Largest accepted relative error (:func:`rel_error`) between an analytic and a
numerical gradient: FD_ERROR relative to a gradient of order one, with a factor 100
more for the larger derivatives of real networks. A wrong gradient (a missing
term, a transpose, a factor) is off by far more than that."""

KINK_MARGIN = 100.0 * FD_STEP
"""A central difference is compared with an analytic derivative only at points at
least this far (in the differentiated variable) from a kink of a clip or a max:
both evaluation points x +- FD_STEP then lie on the same side of the kink."""

# --- float64 agreement ------------------------------------------------------------

FLOAT64_RTOL = 1e-12
"""Two float64 computations of the same quantity, by the same formula in a
different order or by an independent formula (an oracle written in a test, scipy),
agree to this relative to the result: sums and matrix products of up to thousands
of terms round by ~ n eps, and 1e-12 leaves room for results that cancel a little.
Also the absolute tolerance for a quantity of order one that is exactly 0 in real
arithmetic (an off-diagonal entry of W.T W for orthogonal W), which a relative
tolerance cannot judge."""

FEW_ROUNDINGS_RTOL = 1e-14
"""A result of a handful of float64 operations (no long sums), computed by two
formulas that agree in real arithmetic, differs by a few roundings of eps / 2:
1e-14 allows about a hundred of them. Tighter than FLOAT64_RTOL, for the
schedules and scalings that are a few multiplications."""

CANCELLATION_RTOL = 1e-9
"""A result that is a difference of float64 numbers up to 10^6 times its own size
(an Adam step read back as params - params_before on parameters of order one, or
a step's distance from lr sign(g)) inherits their rounding, ~ eps of the larger
numbers: up to ~ 2e-10 of itself. 1e-9 leaves a factor 5."""

# --- statistics -------------------------------------------------------------------

MC_SIGMAS = 5.0
"""A Monte Carlo estimate is accepted within this many standard errors of the exact
value. With fixed seeds the tests are deterministic; by chance a correct estimate
lies farther out with probability ~ 6e-7 per comparison."""

RMS_PRIOR_RTOL = 1e-5
"""Running statistics start from gymnasium's prior (count 1e-4, mean 0, var 1), so
after n rows they differ from numpy's mean and population variance of those rows by
the prior's weight 1e-4 / n times (1 + mean^2) / var at most: for the 50 rows of
moderate mean and variance the tests draw, below 6e-6."""


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


def check_grads(loss_fn, params, grads):
    """Assert that analytic gradients agree with central differences to GRAD_RTOL.

    ``loss_fn()``: a scalar function of no arguments that reads ``params``.
    ``params``: a dict of float arrays; each array named in ``grads`` is perturbed
    in place, one element at a time, by :func:`numerical_gradient` (and restored),
    so ``loss_fn`` must read these very arrays, not copies.
    ``grads``: the analytic gradients of ``loss_fn`` by name (any subset of
    ``params``), each of its array's shape.

    Returns ``{name: rel_error}``, the worst relative error of each gradient.
    Raises AssertionError naming every gradient of the wrong shape or whose
    relative error is not below GRAD_RTOL, with that error.

    A single array may be given instead of dicts: ``check_grads(loss_fn, x, dx)``
    returns the one relative error as a float.
    """
    if not isinstance(params, dict):
        return check_grads(loss_fn, {"x": params}, {"x": grads})["x"]
    errors, failures = {}, []
    for name, analytic in grads.items():
        x = params[name]
        analytic = np.asarray(analytic)
        if analytic.shape != x.shape:
            failures.append(f"gradient of {name!r} has shape {analytic.shape}, its parameter {x.shape}")
            continue
        errors[name] = rel_error(analytic, numerical_gradient(loss_fn, x))
        if not errors[name] < GRAD_RTOL:  # also catches a NaN error
            failures.append(f"gradient of {name!r} disagrees with central differences: relative error "
                            f"{errors[name]:.3e}, tolerance GRAD_RTOL = {GRAD_RTOL:.0e}")
    if failures:
        raise AssertionError("; ".join(failures))
    return errors
