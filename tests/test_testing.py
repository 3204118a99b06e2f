"""Tests of ppo_ref.testing, the finite-difference helpers every gradient check uses.

A helper that silently returned zeros, or a check that passed whatever gradient it
was given, would make every gradient check compare against nothing, so they get
their own oracles: the exact gradients of polynomials, and gradients made wrong on
purpose.
"""

import ast
import pathlib

import numpy as np
import pytest

from ppo_ref.testing import FD_ERROR, FLOAT64_RTOL, GRAD_RTOL, check_grads, numerical_gradient, rel_error


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
    arithmetic), while a forward difference would be off by ~3 h = 3e-6."""
    x = np.array([1.0])
    numeric = numerical_gradient(lambda: float(x[0] ** 3), x)
    assert abs(numeric[0] - 3.0) < FD_ERROR


def test_rel_error_is_relative_to_the_array_scale():
    """max|a - n| / max(max|a|, max|n|, 1e-8): an error of 1e-3 on an array of
    scale 10 is 1e-4; two all-zero arrays have error 0, not 0 / 0."""
    assert rel_error(np.array([10.0, 0.0]), np.array([10.0, 1e-3])) == pytest.approx(1e-4, rel=FLOAT64_RTOL)
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error(np.zeros(2), np.array([0.0, 1e-9])) == pytest.approx(0.1, rel=FLOAT64_RTOL)


# ------------------------------------------------------------------- check_grads

def _polynomial(rng):
    """L = sum(c * x^3) + sum(d * y) + y_0 x_00: params, loss and its exact gradients,
    derived by hand (x couples to y, so each gradient depends on both arrays)."""
    params = {"x": rng.normal(size=(3, 2)), "y": rng.normal(size=4)}
    c, d = rng.normal(size=(3, 2)), rng.normal(size=4)

    def loss():
        x, y = params["x"], params["y"]
        return float(np.sum(c * x**3) + np.sum(d * y) + y[0] * x[0, 0])

    x, y = params["x"], params["y"]
    dx = 3 * c * x**2
    dx[0, 0] += y[0]
    dy = d.copy()
    dy[0] += x[0, 0]
    return params, loss, {"x": dx, "y": dy}


def test_check_grads_passes_on_the_right_gradients_and_reports_their_errors(rng):
    params, loss, grads = _polynomial(rng)
    before = {k: p.copy() for k, p in params.items()}
    errors = check_grads(loss, params, grads)
    assert sorted(errors) == ["x", "y"]
    assert all(0.0 <= e < GRAD_RTOL for e in errors.values())
    for k in params:
        np.testing.assert_array_equal(params[k], before[k], err_msg=k)


def test_check_grads_checks_only_the_named_gradients(rng):
    """grads may name a subset of params (the loss of one MLP reads every array of
    the agent's dict): the others are neither perturbed nor reported."""
    params, loss, grads = _polynomial(rng)
    assert list(check_grads(loss, params, {"y": grads["y"]})) == ["y"]


def test_check_grads_fails_on_a_gradient_off_by_one_percent(rng):
    """1.01 times the right gradient: relative error 0.01 / 1.01, far above GRAD_RTOL.
    The message names the gradient, its relative error and the tolerance, and not
    the gradient that is right."""
    params, loss, grads = _polynomial(rng)
    grads["y"] = 1.01 * grads["y"]
    with pytest.raises(AssertionError) as err:
        check_grads(loss, params, grads)
    message = str(err.value)
    assert "'y'" in message and "'x'" not in message
    assert f"{0.01 / 1.01:.3e}" in message
    assert f"GRAD_RTOL = {GRAD_RTOL:.0e}" in message


def test_check_grads_fails_on_one_wrong_element(rng):
    """One element of one gradient changed by 1e-4 of the gradient's scale is
    caught: the error is judged on the worst element, not on an average."""
    params, loss, grads = _polynomial(rng)
    grads["x"][2, 1] += 1e-4 * np.abs(grads["x"]).max()
    with pytest.raises(AssertionError) as err:
        check_grads(loss, params, grads)
    assert "gradient of 'x' disagrees" in str(err.value) and "'y'" not in str(err.value)


def test_check_grads_fails_on_a_gradient_of_the_wrong_shape(rng):
    """A (1, 4) gradient for a (4,) parameter would broadcast in rel_error and could
    pass unnoticed; check_grads refuses it by name."""
    params, loss, grads = _polynomial(rng)
    grads["y"] = grads["y"][None, :]
    with pytest.raises(AssertionError, match=r"gradient of 'y' has shape \(1, 4\), its parameter \(4,\)"):
        check_grads(loss, params, grads)


def test_check_grads_accepts_a_single_array(rng):
    """check_grads(loss, x, dx) for a loss of one array returns the one error as a
    float, and fails the same way on a wrong gradient."""
    x = rng.normal(size=5)
    c = rng.normal(size=5)

    def loss():
        return float(np.sum(c * np.sin(x)))

    error = check_grads(loss, x, c * np.cos(x))
    assert isinstance(error, float) and 0.0 <= error < GRAD_RTOL
    with pytest.raises(AssertionError, match="relative error"):
        check_grads(loss, x, c * np.cos(x) * 1.01)


def _calls(node, names):
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(node))


def _tests_calling_check_grads(tree):
    """{test name: marked finite_differences} of a test module: the tests that call
    check_grads, themselves or through a helper of their module."""
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    helpers = {n.name for n in functions if not n.name.startswith("test_") and _calls(n, {"check_grads"})}
    return {n.name: any("finite_differences" in ast.unparse(d) for d in n.decorator_list)
            for n in functions if n.name.startswith("test_") and _calls(n, {"check_grads", *helpers})}


def test_every_finite_difference_check_is_marked_so_verification_counts_it():
    """docs/verification.md counts the finite-difference checks with
    ``-m finite_differences``: a new one left unmarked would drop out of the count."""
    root = pathlib.Path(__file__).parent.parent
    found = {}
    for path in [*root.glob("tests/test_*.py"), *root.glob("property_tests/test_*.py")]:
        if path.name != "test_testing.py":  # the helper's own tests check the helper, not a gradient
            tests = _tests_calling_check_grads(ast.parse(path.read_text()))
            found.update({f"{path.name}::{name}": marked for name, marked in tests.items()})
    assert len(found) >= 9
    assert [name for name, marked in found.items() if not marked] == []
