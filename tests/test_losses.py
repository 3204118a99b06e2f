"""Tests of ppo_ref.core.losses, the PPO loss of SPEC 5 and its gradient.

- Finite-difference checks of the whole loss with respect to every parameter
  array, at points kept well away from the kinks of clip and max (asserted in
  the test, not assumed).
- The kinks themselves, pinned exactly: the derivative in the ratio is 0 where the
  clipped term is strictly active, -A inside the range and on its boundary, and
  the gradient is split half and half at exact ties of a max.
- The loss value and diagnostics against an independent forward pass written here
  (explicit tanh layers, scipy log-densities, statistics.stdev).

The derivatives of the per-sample terms (clipped_surrogate, value_loss_terms) are
checked against central differences on generated inputs in
property_tests/test_clip_properties.py; here they are pinned on hand examples.
"""

import statistics

import numpy as np
import pytest
from scipy import stats

from ppo_ref.core.agent import init_params, policy_mean, value
from ppo_ref.core.distributions import log_prob
from ppo_ref.core.losses import (clipped_surrogate, explained_variance, max_tie_weight, normalize_advantages,
                                 policy_loss, ppo_loss, value_loss_terms)
from ppo_ref.testing import FLOAT64_RTOL, check_grads

OBS_DIM, ACT_DIM = 4, 2
CLIP = 0.2
ADV_EPS = 1e-8  # SPEC 5.1's epsilon of advantage normalisation, restated on purpose
# Bounds of the hand-built minibatch (input ranges, not tolerances; both far above
# testing.KINK_MARGIN, the distance a central difference needs from a kink):
KINK_DISTANCE = 0.05  # every ratio and value step is at least this far from 1 +- CLIP / +-CLIP
TIE_DISTANCE = 1e-3  # the two branches of each strict max differ by at least this much


def _minibatch(rng, params, m_per_group=6):
    """A minibatch whose ratios and value steps sit in three groups: well inside
    the clip range, well above it and well below it (built by choosing lp_old and
    v_old from the current policy and value), with advantages of both signs."""
    m = 3 * m_per_group
    obs = rng.normal(size=(m, OBS_DIM))
    mu = policy_mean(params, obs)
    actions = mu + np.exp(params["log_std"]) * rng.normal(size=mu.shape)
    target_ratio = np.concatenate([rng.uniform(0.9, 1.1, m_per_group),
                                   rng.uniform(1.3, 1.6, m_per_group),
                                   rng.uniform(0.45, 0.7, m_per_group)])
    logprobs_old = log_prob(actions, mu, params["log_std"]) - np.log(target_ratio)
    advantages = rng.normal(size=m) + np.tile([1.0, -1.0], m // 2)
    v = value(params, obs)
    signs = rng.choice([-1.0, 1.0], size=m)
    step = np.concatenate([rng.uniform(0.05, 0.15, m_per_group), rng.uniform(0.3, 0.6, 2 * m_per_group)])
    values_old = v - signs * step
    returns = v + rng.normal(size=m)
    return obs, actions, logprobs_old, advantages, returns, values_old


def _normalized(adv):
    return (adv - np.mean(adv)) / (statistics.stdev(adv) + ADV_EPS)


def _assert_away_from_kinks(params, batch, norm_adv):
    """Preconditions of a finite-difference check: no ratio within KINK_DISTANCE of
    1 +- CLIP, no value step within KINK_DISTANCE of +-CLIP, no advantage and no
    difference of the value max's branches outside the range within TIE_DISTANCE
    of 0; and each branch of both maxes actually occurs."""
    obs, actions, logprobs_old, advantages, returns, values_old = batch
    ratio = np.exp(log_prob(actions, policy_mean(params, obs), params["log_std"]) - logprobs_old)
    assert np.all(np.abs(ratio - (1 + CLIP)) > KINK_DISTANCE) and np.all(np.abs(ratio - (1 - CLIP)) > KINK_DISTANCE)
    adv = _normalized(advantages) if norm_adv else advantages
    outside = np.abs(ratio - 1) > CLIP
    clipped_active = outside & (adv * (ratio - 1) > 0)
    assert clipped_active.any() and (outside & ~clipped_active).any() and (~outside).any()
    assert np.all(np.abs(adv) > TIE_DISTANCE)

    v = value(params, obs)
    step = v - values_old
    assert np.all(np.abs(np.abs(step) - CLIP) > KINK_DISTANCE)
    v_outside = np.abs(step) > CLIP
    l1 = (v - returns) ** 2
    l2 = (values_old + np.clip(step, -CLIP, CLIP) - returns) ** 2
    assert np.all(np.abs(l1 - l2)[v_outside] > TIE_DISTANCE)
    assert (v_outside & (l1 > l2)).any() and (v_outside & (l2 > l1)).any() and (~v_outside).any()


@pytest.mark.finite_differences
@pytest.mark.parametrize("clip_vloss", [True, False])
@pytest.mark.parametrize("norm_adv", [True, False])
def test_ppo_loss_gradient_matches_finite_differences(rng, random_params, clip_vloss, norm_adv):
    """dL/dparam for every parameter array (both MLPs and log_std), each of its
    array's shape, with a nonzero entropy coefficient, at a point away from every
    kink."""
    params = random_params(rng, OBS_DIM, ACT_DIM, hidden=(6, 5))
    batch = _minibatch(rng, params)
    _assert_away_from_kinks(params, batch, norm_adv)
    kwargs = dict(clip_coef=CLIP, ent_coef=0.013, vf_coef=0.7, clip_vloss=clip_vloss, norm_adv=norm_adv)

    def loss():
        return ppo_loss(params, *batch, **kwargs)[0]

    _, grads, info = ppo_loss(params, *batch, **kwargs)
    assert 0.0 < info["clipfrac"] < 1.0
    assert sorted(grads) == sorted(params)
    check_grads(loss, params, grads)


@pytest.mark.finite_differences
@pytest.mark.slow
def test_ppo_loss_gradient_at_initialisation(rng):
    """The same check on the real 64-64 networks as init_params builds them
    (policy output gain 0.01, so the policy gradients are small)."""
    params = init_params(rng, OBS_DIM, ACT_DIM)
    batch = _minibatch(rng, params)
    _assert_away_from_kinks(params, batch, norm_adv=True)
    kwargs = dict(clip_coef=CLIP, ent_coef=0.01)

    def loss():
        return ppo_loss(params, *batch, **kwargs)[0]

    _, grads, _ = ppo_loss(params, *batch, **kwargs)
    check_grads(loss, params, grads)


@pytest.mark.parametrize("clip_vloss", [True, False])
@pytest.mark.parametrize("norm_adv", [True, False])
def test_ppo_loss_value_and_diagnostics_match_an_independent_forward_pass(rng, random_params, clip_vloss, norm_adv):
    """L = L_pi - c_ent * entropy + c_v * L_v and the diagnostics, recomputed with
    explicit tanh layers, scipy's normal log-density and statistics.stdev (the
    sample std, ddof = 1)."""
    params = random_params(rng, OBS_DIM, ACT_DIM, hidden=(6, 5))
    obs, actions, logprobs_old, advantages, returns, values_old = batch = _minibatch(rng, params)
    ent_coef, vf_coef = 0.013, 0.7

    def net(prefix):
        h = np.tanh(obs @ params[f"{prefix}.W0"] + params[f"{prefix}.b0"])
        h = np.tanh(h @ params[f"{prefix}.W1"] + params[f"{prefix}.b1"])
        return h @ params[f"{prefix}.W2"] + params[f"{prefix}.b2"]

    sigma = np.exp(params["log_std"])
    logratio = stats.norm.logpdf(actions, net("pi"), sigma).sum(-1) - logprobs_old
    ratio = np.exp(logratio)
    adv = _normalized(advantages) if norm_adv else advantages
    pg_loss = np.mean(np.maximum(-adv * ratio, -adv * np.clip(ratio, 1 - CLIP, 1 + CLIP)))
    v = net("v")[:, 0]
    if clip_vloss:
        v_c = values_old + np.clip(v - values_old, -CLIP, CLIP)
        v_loss = 0.5 * np.mean(np.maximum((v - returns) ** 2, (v_c - returns) ** 2))
    else:
        v_loss = 0.5 * np.mean((v - returns) ** 2)
    ent = stats.multivariate_normal(np.zeros(ACT_DIM), np.diag(sigma**2)).entropy()

    loss, _, info = ppo_loss(params, *batch, clip_coef=CLIP, ent_coef=ent_coef, vf_coef=vf_coef,
                             clip_vloss=clip_vloss, norm_adv=norm_adv)
    np.testing.assert_allclose(loss, pg_loss - ent_coef * ent + vf_coef * v_loss, rtol=FLOAT64_RTOL)
    np.testing.assert_allclose(info["pg_loss"], pg_loss, rtol=FLOAT64_RTOL)
    np.testing.assert_allclose(info["v_loss"], v_loss, rtol=FLOAT64_RTOL)
    np.testing.assert_allclose(info["entropy"], ent, rtol=FLOAT64_RTOL)
    np.testing.assert_allclose(info["approx_kl"], np.mean((ratio - 1) - logratio), rtol=FLOAT64_RTOL)
    assert info["clipfrac"] == np.mean(np.abs(ratio - 1) > CLIP)


def test_normalize_advantages_uses_the_sample_std(rng):
    """(A - mean) / (std(A, ddof=1) + 1e-8), as torch's .std(); pinned with
    statistics.stdev (the n - 1 estimator) on a small batch where ddof matters."""
    adv = rng.normal(2.0, 3.0, size=5)
    expected = [(a - statistics.mean(adv)) / (statistics.stdev(adv) + ADV_EPS) for a in adv]
    np.testing.assert_allclose(normalize_advantages(adv), expected, rtol=FLOAT64_RTOL)


def test_normalize_advantages_of_a_constant_batch_is_zero():
    """The 1e-8 keeps a zero-variance batch finite: every advantage becomes 0."""
    np.testing.assert_array_equal(normalize_advantages(np.full(4, 3.0)), np.zeros(4))


# ---------------------------------------------------------------- kinks (SPEC 5.3 to 5.5)

def test_policy_derivative_is_zero_where_the_clipped_term_is_strictly_active():
    """A > 0 with rho > 1 + eps, or A < 0 with rho < 1 - eps: the loss is the
    constant -A (1 +- eps) and its derivative in rho is exactly 0."""
    ratio = np.array([1.5, 1.2 + 1e-9, 0.5, 0.8 - 1e-9])
    adv = np.array([1.0, 2.0, -1.0, -3.0])
    loss, dratio = clipped_surrogate(ratio, adv, CLIP)
    np.testing.assert_array_equal(dratio, 0.0)
    np.testing.assert_allclose(loss, [-1.2, -2.4, 0.8, 2.4], rtol=FLOAT64_RTOL)


def test_policy_derivative_is_minus_advantage_where_the_unclipped_term_wins():
    """A > 0 with rho < 1 - eps, or A < 0 with rho > 1 + eps: the unclipped term
    -A rho is strictly larger, so the loss is -A rho and d/drho = -A."""
    ratio = np.array([0.5, 0.7, 1.5, 3.0])
    adv = np.array([1.0, 2.0, -1.0, -0.5])
    loss, dratio = clipped_surrogate(ratio, adv, CLIP)
    np.testing.assert_array_equal(dratio, -adv)
    np.testing.assert_allclose(loss, -adv * ratio, rtol=FLOAT64_RTOL)


def test_policy_derivative_is_minus_advantage_inside_and_on_the_boundary():
    """Inside [1 - eps, 1 + eps], including rho = 1 +- eps exactly (where the two
    terms tie and clip is the identity), d/drho = -A for either sign of A."""
    ratio = np.array([1.0, 0.95, 1.1, 1.0 + CLIP, 1.0 - CLIP, 1.0 + CLIP, 1.0 - CLIP])
    adv = np.array([0.7, -1.3, 2.0, 1.5, 1.5, -0.5, -0.5])
    loss, dratio = clipped_surrogate(ratio, adv, CLIP)
    np.testing.assert_array_equal(dratio, -adv)
    np.testing.assert_array_equal(loss, -adv * ratio)


def test_max_tie_weight_splits_ties_half_and_half():
    """Share of d max(x, y) going to x: 1, 0 or 0.5 at an exact tie (torch.maximum)."""
    x = np.array([2.0, 1.0, 3.0, -0.0])
    y = np.array([1.0, 2.0, 3.0, 0.0])
    np.testing.assert_array_equal(max_tie_weight(x, y), [1.0, 0.0, 0.5, 0.5])


def test_policy_tie_outside_the_range_at_zero_advantage():
    """With A = 0 the two policy terms tie exactly outside the clip range too; the
    tie weight is 0.5 and the derivative, 0.5 (-A) + 0.5 * 0, is 0."""
    ratio = np.array([1.5, 0.5])
    adv = np.zeros(2)
    np.testing.assert_array_equal(max_tie_weight(-adv * ratio, -adv * np.clip(ratio, 1 - CLIP, 1 + CLIP)), 0.5)
    _, dratio = clipped_surrogate(ratio, adv, CLIP)
    np.testing.assert_array_equal(dratio, 0.0)


def test_value_loss_branches_and_the_exact_tie():
    """Clipped value loss, eps = 0.25 (dyadic, so the tie is exact), v_old = 0:
    - v = 0.1, R = 1:   inside the range, v_c = v, dl/dv = 2 (v - R) = -1.8
    - v = 0.75, R = 1:  (v - R)^2 = 0.0625 < (v_c - R)^2 = 0.5625, the clipped
                        term wins and is constant in v: dl/dv = 0
    - v = 0.75, R = 0:  (v - R)^2 = 0.5625 > (v_c - R)^2 = 0.0625: dl/dv = 1.5
    - v = 0.75, R = 0.5: (0.25)^2 = (-0.25)^2, an exact tie: half of 2 (v - R) = 0.5
                        flows through the unclipped branch and half of 0 through
                        the clipped one, dl/dv = 0.25."""
    v = np.array([0.1, 0.75, 0.75, 0.75])
    returns = np.array([1.0, 1.0, 0.0, 0.5])
    loss, dv = value_loss_terms(v, np.zeros(4), returns, 0.25, clip_vloss=True)
    np.testing.assert_allclose(loss, [0.81, 0.5625, 0.5625, 0.0625], rtol=FLOAT64_RTOL)
    np.testing.assert_allclose(dv, [-1.8, 0.0, 1.5, 0.25], rtol=FLOAT64_RTOL)
    assert dv[1] == 0.0


def test_unclipped_value_loss_ignores_v_old():
    """clip_vloss=False: l = (v - R)^2, dl/dv = 2 (v - R), whatever v_old is."""
    v = np.array([0.75, -2.0])
    returns = np.array([0.5, 1.0])
    loss, dv = value_loss_terms(v, np.array([0.0, 5.0]), returns, 0.25, clip_vloss=False)
    np.testing.assert_array_equal(loss, [0.0625, 9.0])
    np.testing.assert_array_equal(dv, [0.5, -6.0])


@pytest.mark.parametrize("norm_adv", [True, False])
@pytest.mark.parametrize("ent_coef", [0.0, 0.01])
def test_policy_gradient_is_exactly_zero_when_every_sample_is_clipped(rng, random_params, norm_adv, ent_coef):
    """Every sample strictly clipped (A > 0 with rho > 1 + eps, A < 0 with rho < 1 - eps):
    the policy weights get exactly zero gradient and log_std only the entropy
    term's -ent_coef; the value network still learns."""
    params = random_params(rng, OBS_DIM, ACT_DIM)
    m = 8
    obs = rng.normal(size=(m, OBS_DIM))
    mu = policy_mean(params, obs)
    actions = mu + np.exp(params["log_std"]) * rng.normal(size=mu.shape)
    adv = np.tile([1.0, -1.0], m // 2) * rng.uniform(0.5, 2.0, m)
    adv -= adv.mean()  # normalisation then keeps every sign
    ratio = np.where(adv > 0, 1.5, 0.5)
    logprobs_old = log_prob(actions, mu, params["log_std"]) - np.log(ratio)
    used = _normalized(adv) if norm_adv else adv
    assert np.all(np.sign(used) == np.sign(adv)) and np.all(adv != 0)
    returns = rng.normal(size=m)
    _, grads, info = ppo_loss(params, obs, actions, logprobs_old, adv, returns, value(params, obs),
                              clip_coef=CLIP, ent_coef=ent_coef, norm_adv=norm_adv)
    assert info["clipfrac"] == 1.0
    for k in params:
        if k.startswith("pi."):
            np.testing.assert_array_equal(grads[k], 0.0, err_msg=k)
    np.testing.assert_array_equal(grads["log_std"], -ent_coef)
    assert np.abs(grads["v.W2"]).max() > 0


def test_ppo_loss_defaults_are_cleanrls(rng, random_params):
    """Called without keywords, ppo_loss is ppo_loss with clip_coef=0.2,
    ent_coef=0.0, vf_coef=0.5, clip_vloss=True, norm_adv=True, on a minibatch where
    each of them matters (ratios and value steps beyond 0.2, the entropy of a
    non-trivial log_std)."""
    params = random_params(rng, OBS_DIM, ACT_DIM)
    batch = _minibatch(rng, params)
    loss, grads, info = ppo_loss(params, *batch)
    loss_kw, grads_kw, info_kw = ppo_loss(params, *batch, clip_coef=0.2, ent_coef=0.0, vf_coef=0.5,
                                          clip_vloss=True, norm_adv=True)
    assert loss == loss_kw and info == info_kw
    for k in grads:
        np.testing.assert_array_equal(grads[k], grads_kw[k], err_msg=k)
    for other in ({"clip_coef": 1.2}, {"ent_coef": 1.0}, {"vf_coef": 1.5}, {"clip_vloss": False}, {"norm_adv": False}):
        assert ppo_loss(params, *batch, **other)[0] != loss, other


def test_explained_variance_hand_example():
    """R = [1, 2, 3, 4], v = [1, 2, 3, 5]: var(R - v) = var([0, 0, 0, -1]) = 3/16,
    var(R) = 5/4, so 1 - (3/16) / (5/4) = 0.85; NaN for constant returns."""
    np.testing.assert_allclose(explained_variance(np.array([1.0, 2, 3, 5]), np.array([1.0, 2, 3, 4])), 0.85,
                               rtol=FLOAT64_RTOL)
    assert np.isnan(explained_variance(np.zeros(3), np.ones(3)))


def test_explained_variance_of_constant_returns_is_nan_whatever_the_values():
    """var(R) = 0 is the branch that returns NaN: with values that vary, var(R - v) > 0,
    so dividing instead would give -inf, not NaN. R = [0, 2]: var(R) = 1 exactly,
    an ordinary divisor: v = [0, 1] gives 1 - var([0, 1]) / 1 = 0.75."""
    assert np.isnan(explained_variance(np.array([0.0, 1.0, 2.0]), np.full(3, 7.0)))
    assert explained_variance(np.array([0.0, 1.0]), np.array([0.0, 2.0])) == 0.75


def _logprobs_old_for_ratio(actions, mu, log_std, ratio):
    """logprobs_old (one per row) such that exp(log_prob - logprobs_old) is exactly
    ``ratio`` in float64, found by stepping one ulp at a time from the rounded
    guess (every sample has the same log_prob here)."""
    lp = log_prob(actions, mu, log_std)[0]
    for direction in (np.inf, -np.inf):
        lpo = lp - np.log(ratio)
        for _ in range(64):
            if np.exp(lp - lpo) == ratio:
                return np.full(actions.shape[0], lpo)
            lpo = np.nextafter(lpo, direction)
    raise AssertionError(f"no float64 logprobs_old gives the ratio {ratio!r}")


def test_clipfrac_counts_ratios_strictly_outside_the_clip_range():
    """clipfrac = mean(|rho - 1| > eps), strictly. With eps = 0.25, rho = 1.25 and
    0.75 are exactly representable and |rho - 1| is exactly 0.25 for both: not
    counted. One ulp further out (1.25 + 2^-52, 0.75 - 2^-53) |rho - 1| is exact again
    and just above 0.25: counted."""
    eps = 0.25
    actions = mu = np.zeros((2, 1))
    log_std = np.array([-1.5])

    def clipfrac(ratios):
        lpo = np.concatenate([_logprobs_old_for_ratio(actions[:1], mu[:1], log_std, r) for r in ratios])
        np.testing.assert_array_equal(np.exp(log_prob(actions, mu, log_std) - lpo), ratios)  # the premise
        return policy_loss(mu, log_std, actions, lpo, np.ones(2), eps, 0.0, False)[4]["clipfrac"]

    assert clipfrac([1.25, 0.75]) == 0.0
    assert clipfrac([np.nextafter(1.25, 2.0), 0.75]) == 0.5
    assert clipfrac([1.25, np.nextafter(0.75, 0.0)]) == 0.5
    assert clipfrac([np.nextafter(1.25, 2.0), np.nextafter(0.75, 0.0)]) == 1.0
