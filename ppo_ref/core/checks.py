"""The argument checks shared by the core's public functions.

Each raises ``ValueError`` or ``TypeError`` whose message starts with the
argument's name and gives the offending value (or shape) and what was expected,
so a bad call never surfaces as a traceback from deep inside numpy or, worse,
as a silent NaN.
"""

import numbers

import numpy as np


def as_float_array(name, x, ndim=None, min_ndim=None):
    """``x`` as a non-empty, finite floating-point array (integers and booleans are
    converted to float64); ``ndim``: an int or a tuple of allowed ranks."""
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an array of real numbers, got {type(x).__name__}") from err
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    allowed = ndim if isinstance(ndim, tuple) else (ndim,)
    if ndim is not None and arr.ndim not in allowed:
        raise ValueError(f"{name} must have ndim {' or '.join(map(str, allowed))}, got shape {arr.shape}")
    if min_ndim is not None and arr.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimensions, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"{name} must be finite, found {arr[bad]} at index {bad}")
    return arr


def as_bool_array(name, x, shape):
    """``x`` as a boolean array of ``shape`` (0/1 numbers are accepted)."""
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


def dims_match(name, arr, axis, ref_name, ref, ref_axis):
    """``arr.shape[axis] == ref.shape[ref_axis]``, as a matrix product or a shared
    action dimension needs."""
    if arr.shape[axis] != ref.shape[ref_axis]:
        raise ValueError(f"{name} has {arr.shape[axis]} in axis {axis} (shape {arr.shape}) but {ref_name} "
                         f"has {ref.shape[ref_axis]} in axis {ref_axis} (shape {ref.shape})")


def real_in_range(name, x, low=None, high=None, low_open=False):
    """A real scalar in [low, high] (or (low, high] with ``low_open``), as float."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {x!r}")
    x = float(x)
    if not (np.isfinite(x) and (low is None or (x > low if low_open else x >= low))
            and (high is None or x <= high)):
        lo, hi = ("-inf" if low is None else low), ("inf" if high is None else high)
        raise ValueError(f"{name} must be in {'(' if low_open else '['}{lo}, {hi}], got {x}")
    return x


def int_in_range(name, x, low=None, high=None):
    """An integer (not a bool) in [low, high], as int."""
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {x!r}")
    x = int(x)
    if (low is not None and x < low) or (high is not None and x > high):
        lo, hi = ("-inf" if low is None else low), ("inf" if high is None else high)
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {x}")
    return x


def float_arrays(name, arrays, shapes=None):
    """Each ``arrays[k]`` through :func:`as_float_array` as ``name[k]``, and of the
    shape ``shapes[k]`` when given."""
    checked = {k: as_float_array(f"{name}[{k!r}]", a) for k, a in arrays.items()}
    for k, shape in (shapes or {}).items():
        if checked[k].shape != shape:
            raise ValueError(f"{name}[{k!r}] must have the parameter's shape {shape}, got {checked[k].shape}")
    return checked


def check_loss_args(params, obs, actions, logprobs_old, advantages, returns, values_old, clip_coef, ent_coef,
                    vf_coef, norm_adv):
    """The PPO loss's arguments: every array finite and of the minibatch's shapes,
    the parameters fit obs and actions (a size-1 action axis would otherwise
    broadcast silently), the coefficients in range. Returns obs and actions as
    float arrays."""
    obs, actions = as_float_array("obs", obs, ndim=2), as_float_array("actions", actions, ndim=2)
    logprobs_old = as_float_array("logprobs_old", logprobs_old, ndim=1)
    dims_match("actions", actions, 0, "obs", obs, 0)
    dims_match("logprobs_old", logprobs_old, 0, "obs", obs, 0)
    for name, arr in (("advantages", advantages), ("returns", returns), ("values_old", values_old)):
        same_shape(name, as_float_array(name, arr, ndim=1), "logprobs_old", logprobs_old)
    float_arrays("params", params)
    last_pi = f"pi.W{sum(1 for k in params if k.startswith('pi.W')) - 1}"
    dims_match("params['log_std']", params["log_std"], 0, f"params[{last_pi!r}]", params[last_pi], 1)
    for net in ("pi", "v"):
        dims_match("obs", obs, 1, f"params['{net}.W0']", params[f"{net}.W0"], 0)
    dims_match("actions", actions, 1, "params['log_std']", params["log_std"], 0)
    if norm_adv and obs.shape[0] < 2:
        raise ValueError(f"norm_adv needs a minibatch of at least 2 samples (std with ddof=1), got {obs.shape[0]}")
    real_in_range("clip_coef", clip_coef, 0.0, low_open=True)
    real_in_range("ent_coef", ent_coef, 0.0)
    real_in_range("vf_coef", vf_coef, 0.0)
    return obs, actions
