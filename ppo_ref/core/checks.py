"""Cheap argument checks shared by the public numerical functions.

Each check raises ``ValueError`` or ``TypeError`` with the argument's name, the
offending value (or shape) and what was expected, so a bad call never surfaces
as a traceback from deep inside numpy or, worse, as a silent NaN.
"""

import numbers

import numpy as np


def as_float_array(name, x, ndim=None, min_ndim=None, allow_empty=False):
    """Return ``x`` as a finite floating-point array, or raise naming ``name``."""
    if isinstance(x, np.ndarray):
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must be an array of real numbers, got {type(x).__name__}") from err
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    if ndim is not None and arr.ndim not in _as_tuple(ndim):
        raise ValueError(f"{name} must have ndim {_fmt(ndim)}, got shape {arr.shape}")
    if min_ndim is not None and arr.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimensions, got shape {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name} must be finite, found {arr[tuple(bad)]} at index {tuple(int(i) for i in bad)}")
    return arr


def as_bool_array(name, x, shape):
    """Return ``x`` as a boolean array of ``shape`` (0/1 numbers are accepted)."""
    arr = np.asarray(x)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    if arr.dtype == np.bool_:
        return arr
    if arr.dtype.kind not in "iuf" or not np.isin(arr, (0, 1)).all():
        raise TypeError(f"{name} must be boolean (or 0/1), got dtype {arr.dtype}")
    return arr.astype(bool)


def same_shape(name, arr, ref_name, ref):
    if arr.shape != ref.shape:
        raise ValueError(f"{name} must have the shape of {ref_name} {ref.shape}, got {arr.shape}")


def real_in_range(name, x, low=None, high=None, low_open=False, high_open=False):
    """Check a scalar lies in [low, high] (ends optionally open); return it as float."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {x!r}")
    x = float(x)
    ok = np.isfinite(x)
    if low is not None:
        ok &= x > low if low_open else x >= low
    if high is not None:
        ok &= x < high if high_open else x <= high
    if not ok:
        lb = "(" if low_open else "["
        hb = ")" if high_open else "]"
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{name} must be in {lb}{lo}, {hi}{hb}, got {x}")
    return x


def int_in_range(name, x, low=None, high=None):
    """Check an integer (not a bool) lies in [low, high]; return it as int."""
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {x!r}")
    x = int(x)
    if (low is not None and x < low) or (high is not None and x > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {x}")
    return x


def _as_tuple(v):
    return v if isinstance(v, tuple) else (v,)


def _fmt(v):
    return " or ".join(str(i) for i in _as_tuple(v))


class NonFiniteError(RuntimeError):
    """A loss, gradient, parameter, observation or reward is NaN or infinite."""


def check_finite(name, x, iteration, minibatch=None):
    if not np.all(np.isfinite(x)):
        where = f"iteration {iteration}" + ("" if minibatch is None else f", minibatch {minibatch}")
        raise NonFiniteError(f"non-finite {name} at {where}; the last checkpoint holds the last finite state")
