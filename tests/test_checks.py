"""core/checks.py on the inputs the other tests do not give it: numbers of other
dtypes, 0/1 flags as numbers, and input numpy cannot read as an array."""

import numpy as np
import pytest

from ppo_ref.core.checks import as_bool_array, as_float_array
from ppo_ref.core.distributions import log_prob
from ppo_ref.core.gae import gae

T_N = (4, 2)
TERMINATED = np.array([[0, 0], [1, 0], [0, 0], [0, 1]])
TRUNCATED = np.array([[0, 1], [0, 0], [0, 0], [0, 0]])


def test_integers_and_booleans_become_float64_and_float32_stays_float32():
    assert as_float_array("x", np.array([1, 2], dtype=np.int32)).dtype == np.float64
    assert as_float_array("x", np.array([True, False])).dtype == np.float64
    np.testing.assert_array_equal(as_float_array("x", [3, 4]), [3.0, 4.0])
    x32 = np.array([0.5, 1.5], dtype=np.float32)
    assert as_float_array("x", x32).dtype == np.float32
    assert as_float_array("x", x32) is x32


def test_integer_actions_give_the_log_prob_of_the_same_floats():
    mu, log_std = np.array([[0.5, -1.0]]), np.array([0.1, -0.3])
    np.testing.assert_array_equal(log_prob(np.array([[1, -2]]), mu, log_std),
                                  log_prob(np.array([[1.0, -2.0]]), mu, log_std))


@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.float64])
def test_flags_given_as_0_1_numbers_are_the_booleans(dtype):
    flags = as_bool_array("terminated", TERMINATED.astype(dtype), T_N)
    assert flags.dtype == np.bool_
    np.testing.assert_array_equal(flags, TERMINATED == 1)
    rng = np.random.default_rng(0)
    r, v, v_next = (rng.normal(size=T_N) for _ in range(3))
    as_numbers = gae(r, v, v_next, TERMINATED.astype(dtype), TRUNCATED.astype(dtype), 0.99, 0.95)
    as_bools = gae(r, v, v_next, TERMINATED == 1, TRUNCATED == 1, 0.99, 0.95)
    for a, b in zip(as_numbers, as_bools):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("flags", [np.full(T_N, 2), np.full(T_N, -1.0), np.full(T_N, "1")])
def test_flags_other_than_0_and_1_are_refused_naming_the_argument(flags):
    with pytest.raises(TypeError, match=r"^truncated must be boolean \(or 0/1\), got dtype "):
        as_bool_array("truncated", flags, T_N)


def test_input_numpy_cannot_read_as_an_array_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match=r"^rewards must be an array of real numbers, got list$"):
        as_float_array("rewards", [[1.0, 2.0], [3.0]])


def test_checked_runs_the_check_then_the_one_body_and_keeps_the_body_as_unchecked():
    """``checked``: the check sees every argument by name, defaults included, its
    conversions reach the body, and ``.unchecked`` is that very body."""
    from ppo_ref.core.checks import checked

    seen = []

    def check(x, scale):
        seen.append((x, scale))
        if x < 0:
            raise ValueError(f"x must be >= 0, got {x}")
        return {"x": float(x)}

    def body(x, scale=2.0):
        return x * scale

    f = checked(body, check)
    assert f(3) == 6.0 and isinstance(f(3), float) and seen[0] == (3, 2.0)
    assert f(1, scale=5.0) == 5.0
    with pytest.raises(ValueError, match="x must be >= 0, got -1"):
        f(-1)
    assert f.unchecked is body and f.unchecked(-1) == -2.0 and len(seen) == 4  # the body alone checks nothing
    assert f.__name__ == "body" and f.__doc__ == body.__doc__

