"""Tests of ppo_ref.core.optim (SPEC 6): Adam with torch semantics, global gradient-norm
clipping, the linear learning-rate schedule.

The reference Adam below is written from the paper's bias-corrected form
(m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t), p -= lr m_hat / (sqrt(v_hat) + eps)),
which is the SPEC 6.1 formula rearranged; gradients as small as eps make the place
where eps is added visible.
"""

import numpy as np
import pytest

from ppo_ref.core.optim import adam_init, adam_step, clip_grad_norm, global_grad_norm, linear_lr
from ppo_ref.testing import CANCELLATION_RTOL, FEW_ROUNDINGS_RTOL, FLOAT64_RTOL

# SPEC 6 constants, restated on purpose: the tests pin the defaults to the spec.
B1, B2, EPS = 0.9, 0.999, 1e-5
NORM_EPS = 1e-6


def _reference_adam(p0, grad_seq, lr_seq):
    p = p0.copy()
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for t, (g, lr) in enumerate(zip(grad_seq, lr_seq), start=1):
        m = B1 * m + (1 - B1) * g
        v = B2 * v + (1 - B2) * g * g
        m_hat = m / (1 - B1**t)
        v_hat = v / (1 - B2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + EPS)
    return p, m, v


def test_adam_matches_the_spec_formula_over_several_steps(rng):
    """Seven steps with gradients from 1 down to 1e-7 (below eps), changing sign
    and scale, and a changing learning rate; two parameter arrays updated in place."""
    scales = np.array([1.0, 1e-2, 1e-4, 1e-5, 1e-6, 1e-7])
    params = {"a": rng.normal(size=6), "b": rng.normal(size=(2, 3))}
    p0 = {k: p.copy() for k, p in params.items()}
    steps = 7
    grad_seq = [{"a": rng.normal(size=6) * scales, "b": rng.normal(size=(2, 3)) * scales.reshape(2, 3)}
                for _ in range(steps)]
    lr_seq = [3e-4 * (1 - k / steps) for k in range(steps)]
    state = adam_init(params)
    for g, lr in zip(grad_seq, lr_seq):
        adam_step(params, g, state, lr)
    assert state["t"] == steps
    for k in params:
        p_ref, m_ref, v_ref = _reference_adam(p0[k], [g[k] for g in grad_seq], lr_seq)
        # the displacement, down to ~1e-5 of the parameter, is compared relative to itself
        np.testing.assert_allclose(params[k] - p0[k], p_ref - p0[k], rtol=CANCELLATION_RTOL, atol=0)
        np.testing.assert_allclose(state["m"][k], m_ref, rtol=FLOAT64_RTOL)
        np.testing.assert_allclose(state["v"][k], v_ref, rtol=FLOAT64_RTOL)


def test_adam_first_step_moves_each_parameter_by_lr_times_sign():
    """At t = 1, m_hat = g and sqrt(v_hat) = |g|, so the step is lr g / (|g| + eps):
    within lr eps / |g| of lr sign(g), and exactly that by the formula."""
    lr = 1e-3
    g = np.array([0.5, -2.0, 1e-2, -3e-2, 7.0])
    p = np.zeros(5)
    params, state = {"p": p}, adam_init({"p": p})
    adam_step(params, {"p": g}, state, lr)
    step = -params["p"]
    assert np.all(np.abs(step - lr * np.sign(g)) <= lr * EPS / np.abs(g) * (1 + CANCELLATION_RTOL))
    np.testing.assert_allclose(step, lr * g / (np.abs(g) + EPS), rtol=FLOAT64_RTOL)


def test_adam_zero_gradient_leaves_parameters_unchanged():
    """g = 0 from the start: m = v = 0 and the step is 0 / (0 + eps) = 0."""
    params = {"p": np.array([1.0, -2.0])}
    state = adam_init(params)
    adam_step(params, {"p": np.zeros(2)}, state, 1e-3)
    np.testing.assert_array_equal(params["p"], [1.0, -2.0])


def _grads(rng):
    return {"w": rng.normal(size=(3, 4)), "b": rng.normal(size=4), "log_std": rng.normal(size=2)}


def test_global_grad_norm_adds_the_squares_left_to_right_on_every_python():
    """SPEC 6.2: one running float64, in the order given. 1e16 + 1 rounds back to 1e16
    twice, so the sum is 1e16; Python 3.12's compensated sum() would give 1e16 + 2,
    whose square root is one ulp above 1e8."""
    grads = {"a": np.array([1e8]), "b": np.array([1.0]), "c": np.array([1.0])}
    assert global_grad_norm(grads, ["a", "b", "c"]) == 1e8
    assert global_grad_norm(grads, ["b", "c", "a"]) == np.nextafter(1e8, 2e8)  # 1 + 1 = 2 first: the order counts


def test_global_grad_norm_is_the_norm_of_all_gradients_concatenated(rng):
    grads = _grads(rng)
    expected = np.linalg.norm(np.concatenate([g.ravel() for g in grads.values()]))
    np.testing.assert_allclose(global_grad_norm(grads), expected, rtol=FLOAT64_RTOL)


def test_clip_grad_norm_scales_by_the_spec_formula(rng):
    """Norm above max_norm: every gradient is multiplied by max_norm / (norm + 1e-6);
    the returned norm is the one before clipping."""
    grads = _grads(rng)
    norm = np.sqrt(sum(np.sum(g**2) for g in grads.values()))
    max_norm = 0.5
    assert norm > max_norm
    clipped, norm_before = clip_grad_norm(grads, max_norm)
    np.testing.assert_allclose(norm_before, norm, rtol=FLOAT64_RTOL)
    scale = max_norm / (norm + NORM_EPS)
    for k in grads:
        np.testing.assert_allclose(clipped[k], grads[k] * scale, rtol=FLOAT64_RTOL)
    np.testing.assert_allclose(global_grad_norm(clipped), max_norm * norm / (norm + NORM_EPS), rtol=FLOAT64_RTOL)


def test_clip_grad_norm_below_max_norm(rng):
    """Well below max_norm the scale is min(1, ...) = 1 and the gradients are
    unchanged; just below max_norm (within the 1e-6) the formula still scales by
    max_norm / (norm + 1e-6) < 1, as torch's clip_grad_norm_ does."""
    grads = _grads(rng)
    norm = np.sqrt(sum(np.sum(g**2) for g in grads.values()))
    clipped, _ = clip_grad_norm(grads, 10 * norm)
    for k in grads:
        np.testing.assert_array_equal(clipped[k], grads[k])

    max_norm = norm + 5e-7
    clipped, _ = clip_grad_norm(grads, max_norm)
    scale = max_norm / (norm + NORM_EPS)
    assert scale < 1.0
    for k in grads:
        np.testing.assert_allclose(clipped[k], grads[k] * scale, rtol=FEW_ROUNDINGS_RTOL)
        assert not np.array_equal(clipped[k], grads[k])


@pytest.mark.parametrize("k, expected", [(1, 3e-4), (2, 2.25e-4), (3, 1.5e-4), (4, 7.5e-5)])
def test_linear_lr_schedule(k, expected):
    """K = 4, lr0 = 3e-4: lr_k = (1 - (k - 1) / 4) lr0, so lr_1 = lr0 and lr_K = lr0 / K
    (never 0: the last iteration still learns)."""
    np.testing.assert_allclose(linear_lr(k, 4, 3e-4), expected, rtol=FEW_ROUNDINGS_RTOL)


def test_clip_grad_norm_sums_in_the_order_named():
    """The norm clip_grad_norm reports and clips with is summed in ``names``' order,
    not the dict's: 1 + 1 first gives 2 more than 1e16 absorbs."""
    grads = {"a": np.array([1e8]), "b": np.array([1.0]), "c": np.array([1.0])}
    assert clip_grad_norm(grads, 1.0)[1] == 1e8
    assert clip_grad_norm(grads, 1.0, ["b", "c", "a"])[1] == np.nextafter(1e8, 2e8)
