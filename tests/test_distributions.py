"""Tests of ppo_ref.core.distributions, the diagonal Gaussian of SPEC 2.

Oracles: Monte Carlo estimates from a seeded Generator within MC_SIGMAS standard
errors, hand-computed values, and central finite differences for the entropy's
gradient. The closed forms against scipy (log_prob on any leading shape, entropy,
KL by quadrature) and log_prob_grads against central differences are properties,
in property_tests/test_log_prob_properties.py.
"""

import numpy as np
import pytest
from scipy import stats

from ppo_ref.core.distributions import entropy, kl, sample
from ppo_ref.testing import FLOAT64_RTOL, MC_SIGMAS, check_grads

A = 3


def test_entropy_matches_monte_carlo(rng):
    """Stable-Baselines3-style check: entropy = -E[log p(a)], estimated from 200k
    samples; within MC_SIGMAS standard errors."""
    mu = np.array([0.3, -1.0, 2.0])
    log_std = np.array([-0.5, 0.0, 0.4])
    n = 200_000
    a = mu + np.exp(log_std) * rng.standard_normal((n, A))
    neg_lp = -stats.norm.logpdf(a, mu, np.exp(log_std)).sum(axis=-1)
    stderr = neg_lp.std(ddof=1) / np.sqrt(n)
    assert abs(neg_lp.mean() - entropy(log_std)) < MC_SIGMAS * stderr


def test_kl_matches_monte_carlo(rng):
    """KL(p || q) = E_p[log p - log q], estimated from 200k samples of p (log-densities
    from scipy); within MC_SIGMAS standard errors."""
    mu_p, mu_q = np.array([0.1, -0.4, 1.0]), np.array([0.5, 0.2, 0.7])
    log_std_p, log_std_q = np.array([0.0, -0.3, 0.2]), np.array([0.3, 0.1, -0.2])
    n = 200_000
    x = mu_p + np.exp(log_std_p) * rng.standard_normal((n, A))
    diff = (stats.norm.logpdf(x, mu_p, np.exp(log_std_p)) - stats.norm.logpdf(x, mu_q, np.exp(log_std_q))).sum(-1)
    stderr = diff.std(ddof=1) / np.sqrt(n)
    assert abs(diff.mean() - kl(mu_p, log_std_p, mu_q, log_std_q)) < MC_SIGMAS * stderr


def test_kl_hand_table():
    """Two dims, p = N(mu_p, I), q = N(mu_q, diag(1, 4)), one row per state. Per dim,
    KL = log(sigma_q / sigma_p) + (sigma_p^2 + (mu_p - mu_q)^2) / (2 sigma_q^2) - 1/2:
      dim 0 (sigma_q = 1): d0^2 / 2
      dim 1 (sigma_q = 2): log 2 + (1 + d1^2) / 8 - 1/2
    - d = (0, 0): 0   + log 2 + 1/8 - 1/2 = log 2 - 3/8  (different variances alone)
    - d = (1, 0): 1/2 + log 2 + 1/8 - 1/2 = log 2 + 1/8
    - d = (0, 2): 0   + log 2 + 5/8 - 1/2 = log 2 + 1/8
    Every row is positive, as KL of two different distributions is."""
    mu_p = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    mu_q = np.zeros((3, 2))
    expected = np.log(2.0) + np.array([-0.375, 0.125, 0.125])
    np.testing.assert_allclose(kl(mu_p, np.zeros(2), mu_q, np.array([0.0, np.log(2.0)])), expected,
                               rtol=FLOAT64_RTOL)


def test_sample_is_mu_plus_sigma_times_generator_normals(rng):
    """Pins the draw for ports: a = mu + sigma * eps, eps = rng.standard_normal(mu.shape)."""
    mu = rng.normal(size=(4, A))
    log_std = rng.normal(size=A)
    a = sample(np.random.default_rng(11), mu, log_std)
    eps = np.random.default_rng(11).standard_normal((4, A))
    np.testing.assert_array_equal(a, mu + np.exp(log_std) * eps)


def test_sample_mean_and_covariance(rng):
    """Mean and covariance of 200k samples agree with mu and diag(sigma^2) within
    MC_SIGMAS standard errors: sigma_i / sqrt(n) for the means, sigma_i^2 sqrt(2 / n)
    for the variances and sigma_i sigma_j / sqrt(n) for the covariances."""
    n = 200_000
    mu = np.array([1.0, -2.0, 0.5])
    log_std = np.array([-0.3, 0.2, 0.9])
    sigma = np.exp(log_std)
    a = sample(rng, np.broadcast_to(mu, (n, A)), log_std)
    assert a.shape == (n, A)
    assert np.all(np.abs(a.mean(axis=0) - mu) < MC_SIGMAS * sigma / np.sqrt(n))
    cov = np.cov(a, rowvar=False)
    stderr = np.outer(sigma, sigma) / np.sqrt(n)
    stderr[np.diag_indices(A)] = sigma**2 * np.sqrt(2.0 / n)
    assert np.all(np.abs(cov - np.diag(sigma**2)) < MC_SIGMAS * stderr)


@pytest.mark.finite_differences
def test_entropy_gradient_is_one_per_dim(rng):
    """d entropy / d log_std_i = 1 (the formula losses.py uses), checked by finite
    differences with a random upstream scalar."""
    log_std = rng.normal(size=A)
    dout = rng.normal()
    check_grads(lambda: dout * entropy(log_std), log_std, dout * np.ones(A))


def test_sample_keeps_float32_means_in_float32():
    """SPEC 0.4: with float32 parameters the noise is rounded to float32 before it
    is scaled, so the action is float32, as the rollout's buffers are."""
    mu, log_std = np.zeros((3, 2), np.float32), np.full(2, -0.5, np.float32)
    a = sample(np.random.default_rng(1), mu, log_std)
    noise = np.random.default_rng(1).standard_normal((3, 2)).astype(np.float32)
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a, mu + np.exp(log_std) * noise)
