"""Tests of ppo_ref.testing, the finite-difference helper every gradient check uses.

A helper that silently returned zeros would make every gradient check compare
against nothing, so it gets its own oracle: the exact gradient of a polynomial.
"""

import numpy as np
import pytest

from ppo_ref.testing import FD_STEP, GRAD_RTOL, numerical_gradient, rel_error


@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_numerical_gradient_of_a_cubic_in_any_memory_layout(rng, layout):
    """f(x) = sum(c * x^3) has gradient 3 c x^2. Orthogonal initialisation returns
    Fortran-ordered weights and a port may pass a strided view, so the helper must
    perturb the caller's array itself, whatever its layout."""
    base = rng.normal(size=(4, 6))
    x = {"C": np.ascontiguousarray(base), "F": np.asfortranarray(base), "strided": np.ones((4, 12))[:, ::2]}[layout]
    if layout == "strided":
        x[...] = base
    c = rng.normal(size=(4, 6))
    before = x.copy()
    numeric = numerical_gradient(lambda: float(np.sum(c * x**3)), x)
    assert rel_error(3 * c * base**2, numeric) < GRAD_RTOL
    np.testing.assert_array_equal(x, before)  # every element restored


def test_numerical_gradient_uses_central_differences():
    """For f(x) = x^3 at x = 1 the central difference is 3 + h^2 exactly (in real
    arithmetic), while a forward difference would be off by ~3 h."""
    x = np.array([1.0])
    numeric = numerical_gradient(lambda: float(x[0] ** 3), x)
    assert abs(numeric[0] - 3.0) < 1e-8
    assert abs(numeric[0] - 3.0) < FD_STEP


def test_rel_error_is_relative_to_the_array_scale():
    """max|a - n| / max(max|a|, max|n|, 1e-8): an error of 1e-3 on an array of
    scale 10 is 1e-4; two all-zero arrays have error 0, not 0 / 0."""
    assert rel_error(np.array([10.0, 0.0]), np.array([10.0, 1e-3])) == pytest.approx(1e-4)
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error(np.zeros(2), np.array([0.0, 1e-9])) == pytest.approx(0.1)
