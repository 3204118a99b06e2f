"""Properties of the diagonal Gaussian of SPEC 2 (ppo_ref.core.distributions).

Oracles: scipy.stats.norm (closed form), Gauss-Hermite quadrature of
E_p[log p - log q] for the KL, and central differences (testing.check_grads) for
the gradients. The distribution's closed forms are compared with scipy here
only; tests/test_distributions.py has the Monte Carlo estimates and hand-made
checks.
"""

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

from ppo_ref.core.distributions import entropy, kl, log_prob, log_prob_grads
from ppo_ref.testing import FLOAT64_RTOL, check_grads

from .strategies import assert_close, finite_floats, float_arrays, gaussian_inputs, gaussian_pairs


def quadratic_scale(a, mu, log_std, extra_log=0.0):
    """Round-off scale of a log-density summed over the last axis: the size of each
    summand, with the squared term weighted by the size of the exponent of sigma."""
    sigma = np.exp(log_std)
    z2 = ((np.abs(a) + np.abs(mu)) / sigma) ** 2
    return np.sum(0.5 * z2 * (1.0 + 2.0 * np.abs(log_std) + 2.0 * abs(extra_log))
                  + np.abs(log_std) + abs(extra_log) + 1.0, axis=-1)


@given(gaussian_inputs())
def test_log_prob_equals_scipy_logpdf_summed_over_action_dims(inputs):
    a, mu, log_std = inputs
    expected = scipy.stats.norm.logpdf(a, loc=mu, scale=np.exp(log_std)).sum(axis=-1)
    got = log_prob(a, mu, log_std)
    assert got.shape == a.shape[:-1]
    assert_close(got, expected, quadratic_scale(a, mu, log_std))


@given(gaussian_inputs(), st.data())
def test_log_prob_is_invariant_to_shifting_action_and_mean_together(inputs, data):
    a, mu, log_std = inputs
    shift = data.draw(float_arrays(log_std.shape), label="shift")  # (A,), broadcast over the batch
    shifted = log_prob(a + shift, mu + shift, log_std)
    scale = quadratic_scale(np.abs(a) + np.abs(shift), np.abs(mu) + np.abs(shift), log_std)
    assert_close(shifted, log_prob(a, mu, log_std), scale)


@given(gaussian_inputs(), finite_floats(1e-2, 1e2))
def test_log_prob_scales_with_the_jacobian_of_a_change_of_units(inputs, c):
    """For c > 0: log_prob(c a, c mu, log_std + log c) = log_prob(a, mu, log_std) - A log c."""
    a, mu, log_std = inputs
    log_c = np.log(c)
    act_dim = log_std.shape[0]
    scaled = log_prob(c * a, c * mu, log_std + log_c)
    assert_close(scaled, log_prob(a, mu, log_std) - act_dim * log_c, quadratic_scale(a, mu, log_std, log_c))


@pytest.mark.finite_differences
@given(gaussian_inputs())
def test_log_prob_grads_match_central_differences_per_sample(inputs):
    a, mu, log_std = inputs
    act_dim = log_std.shape[0]
    dmu, dlog_std = log_prob_grads(a, mu, log_std)
    assert dmu.shape == a.shape and dlog_std.shape == a.shape
    rows = zip(a.reshape(-1, act_dim), mu.reshape(-1, act_dim),
               dmu.reshape(-1, act_dim), dlog_std.reshape(-1, act_dim))
    for a_i, mu_i, dmu_i, dlog_std_i in rows:
        # One array (2A,): the sample's mean, then log_std, so that the error is judged
        # on the scale of both gradients together (dmu_i is exactly 0 where a_i = mu_i).
        theta = np.concatenate([mu_i, log_std])

        def f(a_i=a_i, theta=theta):
            return float(log_prob(a_i, theta[:act_dim], theta[act_dim:]))

        check_grads(f, theta, np.concatenate([dmu_i, dlog_std_i]))


@given(gaussian_inputs())
def test_entropy_equals_scipy_entropy_summed_over_action_dims(inputs):
    _, _, log_std = inputs
    expected = scipy.stats.norm.entropy(scale=np.exp(log_std)).sum()
    assert_close(entropy(log_std), expected, np.sum(np.abs(log_std) + 2.0))


def kl_by_quadrature(mu_p, log_std_p, mu_q, log_std_q, nodes=4):
    """KL(p || q) = E_p[log p(x) - log q(x)] per dim by Gauss-Hermite quadrature, exact
    here because the integrand is a quadratic in x. Returns (kl, round-off scale)."""
    t, w = np.polynomial.hermite.hermgauss(nodes)
    sigma_p, sigma_q = np.exp(log_std_p), np.exp(log_std_q)
    x = mu_p[..., None] + np.sqrt(2.0) * sigma_p[:, None] * t  # (..., A, nodes)
    log_p = scipy.stats.norm.logpdf(x, loc=mu_p[..., None], scale=sigma_p[:, None])
    log_q = scipy.stats.norm.logpdf(x, loc=mu_q[..., None], scale=sigma_q[:, None])
    per_dim = (log_p - log_q) @ w / np.sqrt(np.pi)  # (..., A)
    scale = (np.abs(log_p) + np.abs(log_q)).max(axis=-1).sum(axis=-1)
    return per_dim.sum(axis=-1), scale


@given(gaussian_pairs())
def test_kl_equals_quadrature_of_log_density_difference(pair):
    expected, scale = kl_by_quadrature(*pair)
    assert_close(kl(*pair), expected, scale)


@given(gaussian_pairs())
def test_kl_is_nonnegative_and_zero_from_a_distribution_to_itself(pair):
    """KL has one value per leading index, never below 0 beyond round-off, and is 0
    from p to itself exactly: every term is (log_std - log_std) + (var + 0) / (2 var)
    - 0.5, and each of these operations is exact in floating point."""
    mu_p, log_std_p, mu_q, log_std_q = pair
    _, scale = kl_by_quadrature(*pair)
    got = kl(*pair)
    assert np.shape(got) == mu_p.shape[:-1]
    assert np.all(got >= -FLOAT64_RTOL * scale)
    np.testing.assert_array_equal(kl(mu_p, log_std_p, mu_p, log_std_p), np.zeros(mu_p.shape[:-1]), strict=True)
