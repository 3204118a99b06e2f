"""The argument checks shared by the core's public functions.

Each raises ``ValueError`` or ``TypeError`` whose message starts with the
argument's name and gives the offending value (or shape) and what was expected,
so a bad call never surfaces as a traceback from deep inside numpy or, worse,
as a silent NaN.
"""

import functools
import inspect
import numbers

import numpy as np


def checked(body, check):
    """The public function ``f = checked(f, check_f)``, written under the body ``f``
    of a formula: its arguments go through ``check`` first, which takes the same
    arguments by name, raises on a bad one and returns those it converted (lists to
    arrays, 0/1 to bool, integers to float), by name; then ``body`` runs. The body is
    the formula alone, and callers whose arguments are known good (another body of
    the core, the fast engine) call it as ``f.unchecked``. (An assignment rather
    than a decorator: mutmut, behind ``make mutation``, mutates no decorated function.)"""
    signature = inspect.signature(body)

    @functools.wraps(body)
    def checked_call(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        converted = check(**bound.arguments)
        if not converted.keys() <= bound.arguments.keys():
            raise TypeError(f"{check.__name__} returned {sorted(converted.keys() - bound.arguments.keys())}, "
                            f"which are not arguments of {body.__name__}")
        bound.arguments.update(converted)
        return body(*bound.args, **bound.kwargs)
    checked_call.unchecked = body
    return checked_call


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


# ---------------------------------------------------------------- the core's checks
# One per checked function, named after it, taking its arguments by name and
# returning the ones it converted (see :func:`checked`).


def _mu_log_std(mu, log_std, mu_name="mu", log_std_name="log_std"):
    mu, log_std = as_float_array(mu_name, mu, min_ndim=1), as_float_array(log_std_name, log_std, ndim=1)
    dims_match(mu_name, mu, -1, log_std_name, log_std, 0)
    return mu, log_std


def check_sample(rng, mu, log_std):
    mu, log_std = _mu_log_std(mu, log_std)
    return {"mu": mu, "log_std": log_std}


def check_log_prob(a, mu, log_std):
    mu, log_std = _mu_log_std(mu, log_std)
    a = as_float_array("a", a)
    same_shape("a", a, "mu", mu)
    return {"a": a, "mu": mu, "log_std": log_std}


def check_entropy(log_std):
    return {"log_std": as_float_array("log_std", log_std, ndim=1)}


def check_kl(mu_p, log_std_p, mu_q, log_std_q):
    mu_p, log_std_p = _mu_log_std(mu_p, log_std_p, "mu_p", "log_std_p")
    mu_q, log_std_q = _mu_log_std(mu_q, log_std_q, "mu_q", "log_std_q")
    same_shape("mu_p", mu_p, "mu_q", mu_q)
    return {"mu_p": mu_p, "log_std_p": log_std_p, "mu_q": mu_q, "log_std_q": log_std_q}


def check_rms_update(rms, x):
    x = as_float_array("x", x, ndim=rms.mean.ndim + 1)
    if x.shape[1:] != rms.mean.shape:
        raise ValueError(f"x must have shape (n, *{rms.mean.shape}), got {x.shape}")
    return {"x": x}


def check_normalize_obs(obs, rms):
    obs = as_float_array("obs", obs, min_ndim=rms.mean.ndim)
    if obs.shape[obs.ndim - rms.mean.ndim:] != rms.mean.shape:
        raise ValueError(f"obs must have shape (..., *{rms.mean.shape}), got {obs.shape}")
    return {"obs": obs}


def check_scale_reward(scaler, rewards, dones, gamma):
    rewards = as_float_array("rewards", rewards, ndim=1)
    same_shape("rewards", rewards, "the per-env returns (one per env)", scaler.returns)
    return {"rewards": rewards, "dones": as_bool_array("dones", dones, rewards.shape),
            "gamma": real_in_range("gamma", gamma, 0.0, 1.0)}


def check_gae(rewards, values, next_values, terminated, truncated, gamma, gae_lambda, bootstrap_truncation):
    rewards = as_float_array("rewards", rewards, ndim=(1, 2))
    values = as_float_array("values", values, ndim=(1, 2))
    next_values = as_float_array("next_values", next_values, ndim=(1, 2))
    same_shape("values", values, "rewards", rewards)
    same_shape("next_values", next_values, "rewards", rewards)
    return {"rewards": rewards, "values": values, "next_values": next_values,
            "terminated": as_bool_array("terminated", terminated, rewards.shape),
            "truncated": as_bool_array("truncated", truncated, rewards.shape),
            "gamma": real_in_range("gamma", gamma, 0.0, 1.0),
            "gae_lambda": real_in_range("gae_lambda", gae_lambda, 0.0, 1.0)}


def check_linear_forward(x, W, b):
    x, W, b = as_float_array("x", x, ndim=2), as_float_array("W", W, ndim=2), as_float_array("b", b, ndim=1)
    dims_match("x", x, 1, "W", W, 0)
    dims_match("b", b, 0, "W", W, 1)
    return {"x": x, "W": W, "b": b}


def check_mlp_forward(params, prefix, x, start):
    """x (M, in) and the network's layers from ``start`` on: float arrays whose
    shapes chain (x's width, each W's rows, the previous W's columns, b's length)."""
    x = as_float_array("x", x, ndim=2)
    width, name = x.shape[1], "x"
    i = start
    if f"{prefix}.W{i}" not in params:
        raise ValueError(f"params must hold the layer {prefix}.W{i}, got {sorted(params)}")
    while f"{prefix}.W{i}" in params:
        w, b = f"{prefix}.W{i}", f"{prefix}.b{i}"
        W = as_float_array(f"params[{w!r}]", params[w], ndim=2)
        bias = as_float_array(f"params[{b!r}]", params.get(b), ndim=1)
        if W.shape[0] != width:
            raise ValueError(f"params[{w!r}] has {W.shape[0]} rows (shape {W.shape}) but {name} has {width} "
                             f"columns")
        dims_match(f"params[{b!r}]", bias, 0, f"params[{w!r}]", W, 1)
        width, name = W.shape[1], f"params[{w!r}]"
        i += 1
    return {"x": x}


def check_policy_mean(params, obs):
    return {"obs": check_mlp_forward(params, "pi", obs, 0)["x"]}


def check_value(params, obs):
    return {"obs": check_mlp_forward(params, "v", obs, 0)["x"]}


def check_ppo_loss(params, obs, actions, logprobs_old, advantages, returns, values_old, clip_coef, ent_coef,
                   vf_coef, clip_vloss, norm_adv):
    """The PPO loss's arguments: every array finite and of the minibatch's shapes,
    the parameters fit obs and actions (a size-1 action axis would otherwise
    broadcast silently), the coefficients in range."""
    obs, actions = as_float_array("obs", obs, ndim=2), as_float_array("actions", actions, ndim=2)
    logprobs_old = as_float_array("logprobs_old", logprobs_old, ndim=1)
    dims_match("actions", actions, 0, "obs", obs, 0)
    dims_match("logprobs_old", logprobs_old, 0, "obs", obs, 0)
    converted = {"obs": obs, "actions": actions, "logprobs_old": logprobs_old}
    for name, arr in (("advantages", advantages), ("returns", returns), ("values_old", values_old)):
        converted[name] = as_float_array(name, arr, ndim=1)
        same_shape(name, converted[name], "logprobs_old", logprobs_old)
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
    return converted


def check_adam_step(params, grads, state, lr, beta1, beta2, eps):
    if grads.keys() != params.keys():
        raise ValueError(f"grads must have the parameter names {sorted(params)}, got {sorted(grads)}")
    return {"lr": real_in_range("lr", lr, 0.0),
            "grads": float_arrays("grads", grads, {k: p.shape for k, p in params.items()})}


def check_clip_grad_norm(grads, max_norm, names):
    max_norm = real_in_range("max_norm", max_norm, 0.0, low_open=True)
    if not grads:
        raise ValueError("grads must hold at least one gradient array, got an empty dict")
    return {"grads": float_arrays("grads", grads), "max_norm": max_norm}


def check_linear_lr(iteration, num_iterations, lr0):
    num_iterations = int_in_range("num_iterations", num_iterations, 1)
    return {"num_iterations": num_iterations, "iteration": int_in_range("iteration", iteration, 1, num_iterations),
            "lr0": real_in_range("lr0", lr0, 0.0)}
