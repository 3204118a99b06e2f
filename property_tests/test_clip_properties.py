"""Properties of the clipped PPO objectives, SPEC 5 (ppo_ref.core.losses).

Oracles: the paper's form of the objective, ``min(rho A, clip(rho) A)``; SPEC 5's
case-by-case statement of the derivative, written as plain branches per sample;
central differences (testing.check_grads) away from the kinks of the clip and of
the max.
"""

import numpy as np
import pytest
from hypothesis import given

from ppo_ref.core.losses import clipped_surrogate, value_loss_terms
from ppo_ref.testing import KINK_MARGIN, check_grads

from .strategies import assert_close, surrogate_inputs, value_loss_inputs


def surrogate_slope_by_cases(rho, adv, clip_coef):
    """d/drho of max(-A rho, -A clip(rho, 1 - eps, 1 + eps)) for one sample, by SPEC 5's cases."""
    low, high = 1.0 - clip_coef, 1.0 + clip_coef
    unclipped = -adv * rho
    clipped = -adv * min(max(rho, low), high)
    if low <= rho <= high or unclipped > clipped:
        return -adv
    if clipped > unclipped:
        return 0.0  # the clipped term is flat in rho outside the range
    return 0.5 * -adv + 0.5 * 0.0  # exact tie outside the range: half to each term


@given(surrogate_inputs())
def test_clipped_surrogate_is_the_pessimistic_bound_of_the_paper(inputs):
    ratio, adv, clip_coef = inputs
    loss, _ = clipped_surrogate(ratio, adv, clip_coef)
    assert np.all(loss >= -adv * ratio)
    paper = -np.minimum(ratio * adv, np.clip(ratio, 1.0 - clip_coef, 1.0 + clip_coef) * adv)
    np.testing.assert_array_equal(loss, paper)


@given(surrogate_inputs())
def test_surrogate_slope_is_zero_exactly_where_the_clipped_term_is_strictly_larger(inputs):
    """SPEC 5.3: dl/drho = -A inside [1 - eps, 1 + eps] (bounds included) or where the
    unclipped term is strictly larger, 0 where the clipped term is strictly larger,
    and the average of the two at an exact tie. Compared exactly."""
    ratio, adv, clip_coef = inputs
    _, slope = clipped_surrogate(ratio, adv, clip_coef)
    expected = [surrogate_slope_by_cases(r, a, clip_coef) for r, a in zip(ratio, adv)]
    np.testing.assert_array_equal(slope, expected)


def check_slope(loss_fn, x_i, slope_i):
    """check_grads for a per-sample loss ``loss_fn(x)`` of its one variable x = [x_i]."""
    x = np.array([x_i])
    check_grads(lambda: float(loss_fn(x)[0]), x, np.array([slope_i]))


@pytest.mark.finite_differences
@given(surrogate_inputs())
def test_surrogate_slope_matches_central_differences_away_from_the_clip_bounds(inputs):
    ratio, adv, clip_coef = inputs
    _, slope = clipped_surrogate(ratio, adv, clip_coef)
    for i, rho in enumerate(ratio):
        if min(abs(rho - (1.0 - clip_coef)), abs(rho - (1.0 + clip_coef))) <= KINK_MARGIN:
            continue
        check_slope(lambda r, i=i: clipped_surrogate(r, adv[i:i + 1], clip_coef)[0], rho, slope[i])


@given(value_loss_inputs())
def test_clipped_value_loss_is_never_below_the_unclipped_one(inputs):
    v, values_old, returns, clip_coef = inputs
    clipped, _ = value_loss_terms(v, values_old, returns, clip_coef, clip_vloss=True)
    unclipped, dunclipped = value_loss_terms(v, values_old, returns, clip_coef, clip_vloss=False)
    assert np.all(clipped >= unclipped)
    np.testing.assert_array_equal(unclipped, (v - returns) ** 2)
    np.testing.assert_array_equal(dunclipped, 2.0 * (v - returns))
    # Inside the clip range v_c = v up to one rounding, so the two losses agree.
    inside = np.abs(v - values_old) < clip_coef
    scale = (np.abs(v) + np.abs(values_old) + np.abs(returns)) ** 2
    assert_close(clipped[inside], unclipped[inside], scale[inside])


@given(value_loss_inputs())
def test_value_loss_slope_by_cases(inputs):
    """Outside the clip range (|v - v_old| > eps): dl/dv = 0 exactly where the clipped
    term is strictly larger, 2 (v - R) exactly where the unclipped one is, (v - R) at an
    exact tie. Inside the range (bounds included): 2 (v - R) up to the rounding of v_c."""
    v, values_old, returns, clip_coef = inputs
    _, slope = value_loss_terms(v, values_old, returns, clip_coef, clip_vloss=True)
    for v_i, old_i, r_i, s_i in zip(v, values_old, returns, slope):
        step = v_i - old_i
        v_c = old_i + min(max(step, -clip_coef), clip_coef)
        unclipped, clipped = (v_i - r_i) ** 2, (v_c - r_i) ** 2
        if -clip_coef <= step <= clip_coef:
            assert_close(s_i, 2.0 * (v_i - r_i), 2.0 * (abs(v_i) + abs(old_i) + abs(r_i)))
        elif clipped > unclipped:
            assert s_i == 0.0
        elif unclipped > clipped:
            assert s_i == 2.0 * (v_i - r_i)
        else:
            assert s_i == v_i - r_i


@pytest.mark.finite_differences
@given(value_loss_inputs())
def test_value_loss_slope_matches_central_differences_away_from_kinks(inputs):
    """Kinks: v - v_old = +-eps (the clip) and, outside the range, where the two squared
    errors cross. Samples within KINK_MARGIN of either are skipped."""
    v, values_old, returns, clip_coef = inputs
    _, slope = value_loss_terms(v, values_old, returns, clip_coef, clip_vloss=True)
    for i in range(len(v)):
        step = v[i] - values_old[i]
        v_c = values_old[i] + np.clip(step, -clip_coef, clip_coef)
        err, err_c = v[i] - returns[i], v_c - returns[i]
        near_clip = abs(abs(step) - clip_coef) <= KINK_MARGIN
        # Moving v by KINK_MARGIN changes err^2 - err_c^2 by at most about this much.
        near_cross = abs(err * err - err_c * err_c) <= KINK_MARGIN * 2.0 * (abs(err) + abs(err_c) + KINK_MARGIN)
        if near_clip or (abs(step) > clip_coef and near_cross):
            continue

        def loss(x, i=i):
            return value_loss_terms(x, values_old[i:i + 1], returns[i:i + 1], clip_coef, clip_vloss=True)[0]

        check_slope(loss, v[i], slope[i])
