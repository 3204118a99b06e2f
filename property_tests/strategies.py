"""Hypothesis strategies for the property tests, and their comparison helper.

Every strategy of the property suite lives here, so that the ranges the
properties are claimed on can be read in one place:

- floats are finite, float64, never subnormal, and bounded (``BOUND``) so that
  squares and sums stay far from overflow;
- a "grid" of multiples of 1/8 is mixed into the floats where exact ties and
  exact clip boundaries matter: sums and differences of grid values are exact,
  so ``v - v_old == clip_coef`` or ``rho == 1 + clip_coef`` really happen;
- log standard deviations lie in [LOG_STD_MIN, LOG_STD_MAX], the range a policy
  visits in practice, so that ``(a - mu) / sigma`` stays moderate.

Every tolerance comes from :mod:`ppo_ref.testing`; the bounds here are input
ranges. Absolute tolerances are always ``FLOAT64_RTOL`` times a *scale*
(:func:`assert_close`): the magnitude of the terms a result was summed from, which
bounds its round-off even when the result itself cancels to ~0.
"""

from typing import NamedTuple

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ppo_ref.testing import FLOAT64_RTOL

BOUND = 10.0
"""Magnitude bound of generic floats (actions, means, rewards, values, advantages)."""

LOG_STD_MIN, LOG_STD_MAX = -2.0, 2.0
"""Range of the policy's log standard deviation: sigma in [0.14, 7.4]."""

RATIO_MIN, RATIO_MAX = 1e-3, 10.0
"""Range of the probability ratio rho = exp(lp_new - lp_old)."""

OBS_BOUND = 1e3
"""Magnitude bound of raw observations and of the data fed to running statistics."""

MAX_T, MAX_N, MAX_A = 12, 4, 5
"""Largest rollout length, number of envs and action dimension drawn."""

def assert_close(actual, expected, scale, rtol=FLOAT64_RTOL):
    """``|actual - expected| <= rtol * (|expected| + scale)``, elementwise.

    ``scale`` (scalar or broadcastable array) is the magnitude of the terms the
    result was computed from: float64 round-off is relative to it, not to the
    possibly cancelled result.
    """
    actual, expected = np.broadcast_arrays(np.asarray(actual, dtype=np.float64),
                                           np.asarray(expected, dtype=np.float64))
    bound = np.broadcast_to(rtol * (np.abs(expected) + np.asarray(scale, dtype=np.float64)), expected.shape)
    err = np.abs(actual - expected)
    if not np.all(err <= bound):
        worst = np.unravel_index(np.argmax(err - bound), err.shape)
        raise AssertionError(
            f"not close at index {worst}: actual {actual[worst]!r}, expected {expected[worst]!r}, "
            f"error {err[worst]:.3e} > allowed {bound[worst]:.3e}"
        )


# --- scalars and arrays -----------------------------------------------------------

def finite_floats(low=-BOUND, high=BOUND):
    """Finite, non-subnormal float64 in [low, high]."""
    return st.floats(low, high, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def grid_floats(low=-BOUND, high=BOUND):
    """Multiples of 1/8 in [low, high]: exact under + and -, so ties really occur."""
    return st.integers(int(np.ceil(low * 8)), int(np.floor(high * 8))).map(lambda k: k / 8.0)


def floats_with_grid(low=-BOUND, high=BOUND):
    return st.one_of(finite_floats(low, high), grid_floats(low, high))


def float_arrays(shape, elements=None):
    """float64 arrays of ``shape`` with ``elements`` (default: finite floats in +-BOUND).

    Every element is drawn on its own (no ``fill``), so arrays are rarely constant.
    """
    elements = finite_floats() if elements is None else elements
    return hnp.arrays(np.float64, shape, elements=elements, fill=st.nothing())


def bool_arrays(shape):
    """Boolean arrays with every element drawn on its own: mixed flags, not all-equal ones."""
    return hnp.arrays(np.bool_, shape, elements=st.booleans(), fill=st.nothing())


action_dims = st.integers(1, MAX_A)

batch_shapes = hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=4)
"""Leading batch dimensions of a (..., A) array; () is a single action."""

unit_interval = finite_floats(0.0, 1.0)

gammas = st.one_of(st.sampled_from([0.0, 0.99, 1.0]), unit_interval)
lambdas = st.one_of(st.sampled_from([0.0, 0.95, 1.0]), unit_interval)

discounts = st.one_of(st.sampled_from([0.95, 0.99, 1.0]), finite_floats(0.5, 1.0))
"""gamma or lambda bounded away from 0, for properties about what the recursion
carries from one step to the next: a leak across an episode end is then at least
a quarter of the leaked value."""

clip_coefs = st.one_of(st.sampled_from([0.1, 0.2, 0.25, 0.5]), finite_floats(0.01, 0.9))
"""PPO's epsilon; 0.25 and 0.5 lie on the grid so grid values hit the clip bounds."""

coefficients = finite_floats(-3.0, 3.0)
"""Coefficients of a linear combination."""


# --- diagonal Gaussian ------------------------------------------------------------

def log_stds(act_dim):
    return float_arrays((act_dim,), finite_floats(LOG_STD_MIN, LOG_STD_MAX))


@st.composite
def gaussian_inputs(draw):
    """``(a, mu, log_std)``: a, mu of shape batch + (A,), log_std of shape (A,)."""
    act_dim = draw(action_dims)
    shape = draw(batch_shapes) + (act_dim,)
    return draw(float_arrays(shape)), draw(float_arrays(shape)), draw(log_stds(act_dim))


@st.composite
def gaussian_pairs(draw):
    """``(mu_p, log_std_p, mu_q, log_std_q)`` for KL(p || q)."""
    act_dim = draw(action_dims)
    shape = draw(batch_shapes) + (act_dim,)
    return draw(float_arrays(shape)), draw(log_stds(act_dim)), draw(float_arrays(shape)), draw(log_stds(act_dim))


# --- GAE --------------------------------------------------------------------------

class GaeInputs(NamedTuple):
    """The array arguments of ``ppo_ref.core.gae.gae`` in order, all (T,) or (T, N)."""
    rewards: np.ndarray
    values: np.ndarray
    next_values: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray


@st.composite
def gae_shapes(draw, ndim=None):
    ndim = draw(st.sampled_from([1, 2])) if ndim is None else ndim
    t = draw(st.one_of(st.integers(1, MAX_T), st.integers(MAX_T // 2, MAX_T)))  # T = 1 sometimes, not mostly
    return (t,) if ndim == 1 else (t, draw(st.integers(1, MAX_N)))


@st.composite
def gae_inputs(draw, shape=None, ndim=None, consistent=False):
    """Rewards, values and next values in +-BOUND with arbitrary boolean flags
    (terminated and truncated may both be set, as gymnasium allows).

    ``consistent=True`` makes the data one a rollout could produce:
    ``v'_t = V(s_{t+1}) = v_{t+1}`` whenever step t does not end an episode and
    is not the rollout's last step. Otherwise v' is unrelated to v.
    """
    shape = draw(gae_shapes(ndim)) if shape is None else shape
    rewards, values, next_values = (draw(float_arrays(shape)) for _ in range(3))
    terminated, truncated = draw(bool_arrays(shape)), draw(bool_arrays(shape))
    if consistent:
        carries_on = ~(terminated | truncated)[:-1]
        next_values[:-1][carries_on] = values[1:][carries_on]
    return GaeInputs(rewards, values, next_values, terminated, truncated)


def gae_scale(inputs):
    """Scale for GAE round-off: T times the largest |r| + |v| + |v'|."""
    t = inputs.rewards.shape[0]
    return t * (np.abs(inputs.rewards).max() + np.abs(inputs.values).max() + np.abs(inputs.next_values).max())


# --- PPO loss ---------------------------------------------------------------------

minibatch_sizes = st.integers(1, 16)

advantages_elements = st.one_of(st.just(0.0), floats_with_grid())


def ratio_elements(clip_coef):
    """Ratios in [RATIO_MIN, RATIO_MAX], often exactly on a clip bound or one ulp off it.

    The bounds are computed as ``1.0 - clip_coef`` and ``1.0 + clip_coef``, which is
    how SPEC 5 (and ppo_ref) writes them.
    """
    low, high = 1.0 - clip_coef, 1.0 + clip_coef
    edges = [1.0, low, high, np.nextafter(low, 0.0), np.nextafter(low, 2.0),
             np.nextafter(high, 0.0), np.nextafter(high, 3.0)]
    return st.one_of(st.sampled_from(edges), floats_with_grid(RATIO_MIN, RATIO_MAX))


@st.composite
def surrogate_inputs(draw):
    """``(ratio, adv, clip_coef)``: ratio and adv (M,)."""
    clip_coef = draw(clip_coefs)
    m = draw(minibatch_sizes)
    return (draw(float_arrays((m,), ratio_elements(clip_coef))),
            draw(float_arrays((m,), advantages_elements)), clip_coef)


@st.composite
def value_loss_inputs(draw):
    """``(v, values_old, returns, clip_coef)``, all (M,) but clip_coef.

    v is values_old plus an offset that is often exactly +-clip_coef or a grid
    value, so the clip boundary and exact ties of the max are exercised.
    """
    clip_coef = draw(clip_coefs)
    m = draw(minibatch_sizes)
    values_old = draw(float_arrays((m,), floats_with_grid()))
    offset = st.one_of(st.sampled_from([clip_coef, -clip_coef, 0.0]), floats_with_grid(-3.0, 3.0))
    v = values_old + draw(float_arrays((m,), offset))
    returns = draw(float_arrays((m,), floats_with_grid()))
    return v, values_old, returns, clip_coef


# --- normalisation ----------------------------------------------------------------

feature_shapes = hnp.array_shapes(min_dims=0, max_dims=1, min_side=1, max_side=4)


@st.composite
def chunked_batches(draw):
    """``(x, chunks)``: data x of shape (n, *feature_shape) and a split of its rows
    into consecutive non-empty chunks (one chunk when n = 1)."""
    shape = draw(feature_shapes)
    n = draw(st.integers(1, 40))
    x = draw(float_arrays((n, *shape), floats_with_grid(-OBS_BOUND, OBS_BOUND)))
    cuts = draw(st.lists(st.integers(1, n - 1), unique=True, max_size=8)) if n > 1 else []
    return x, np.split(x, sorted(cuts))


@st.composite
def reward_sequences(draw):
    """``(rewards, dones, gamma)``: rewards and done flags of shape (T, N), one row a step."""
    shape = (draw(st.integers(1, 3 * MAX_T)), draw(st.integers(1, MAX_N)))
    return draw(float_arrays(shape, floats_with_grid())), draw(bool_arrays(shape)), draw(gammas)


# --- Bad input (issue: every public numerical function refuses it by name) ---

VALUE_CORRUPTIONS = ("nan", "inf", "-inf", "empty", "strings")
"""Corruptions that make an array invalid whatever the other arguments are."""

SHAPE_CORRUPTIONS = ("extra_axes", "shorter", "longer")
"""Corruptions that break an array's shape against its partners."""


@st.composite
def corruption(draw, kinds=VALUE_CORRUPTIONS + SHAPE_CORRUPTIONS):
    """(kind, position in [0, 1) of the element to poison)."""
    return draw(st.sampled_from(kinds)), draw(st.floats(0.0, 1.0, exclude_max=True))


def corrupt(arr, kind, position):
    """Return a corrupted copy of the float array ``arr``."""
    arr = np.array(arr, dtype=np.float64)
    if kind in ("nan", "inf", "-inf"):
        flat = arr.reshape(-1).copy()
        flat[int(position * flat.size)] = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}[kind]
        return flat.reshape(arr.shape)
    if kind == "empty":
        return np.zeros((0,) + arr.shape[1:])
    if kind == "strings":
        return np.full(arr.shape, "0.5")
    if kind == "extra_axes":
        return arr[None, None]
    if kind == "shorter":
        return arr[..., :-1] if arr.shape[-1] > 1 else arr[..., :0]
    if kind == "longer":
        return np.concatenate([arr, arr[..., :1]], axis=-1)
    raise ValueError(f"unknown corruption {kind!r}")
