"""Tests of ppo_ref.core.distributions, the diagonal Gaussian of SPEC 2.

Oracles: scipy.stats closed forms, numerical integration (scipy.integrate.quad),
Monte Carlo estimates from a seeded Generator with a stated statistical
tolerance, and central finite differences for the gradients.
"""

import numpy as np
import pytest
from scipy import integrate, stats

from ppo_ref.core.distributions import entropy, kl, log_prob, log_prob_grads, sample
from ppo_ref.testing import FLOAT64_RTOL, GRAD_RTOL, numerical_gradient, rel_error

A = 3

# Monte Carlo checks accept an estimate within this many standard errors of the
# exact value. With fixed seeds the tests are deterministic; 5 standard errors
# would be exceeded by chance with probability ~6e-7 per comparison.
MC_SIGMAS = 5.0


def _gaussian(rng, m=8):
    mu = rng.normal(0.0, 1.5, size=(m, A))
    log_std = rng.uniform(-1.0, 0.7, size=A)
    a = mu + np.exp(log_std) * rng.normal(size=(m, A)) * 1.3
    return a, mu, log_std


def test_log_prob_matches_scipy(rng):
    """log_prob equals scipy's multivariate normal with covariance diag(sigma^2),
    and the sum over dims of scipy's univariate normal log-densities."""
    a, mu, log_std = _gaussian(rng)
    sigma = np.exp(log_std)
    lp = log_prob(a, mu, log_std)
    assert lp.shape == (a.shape[0],)
    mvn = np.array([stats.multivariate_normal(mu[m], np.diag(sigma**2)).logpdf(a[m]) for m in range(a.shape[0])])
    np.testing.assert_allclose(lp, mvn, rtol=FLOAT64_RTOL)
    np.testing.assert_allclose(lp, stats.norm.logpdf(a, mu, sigma).sum(axis=-1), rtol=FLOAT64_RTOL)


def test_entropy_matches_scipy(rng):
    """entropy(log_std) equals scipy's entropy of N(mu, diag(sigma^2)) (independent of mu)."""
    log_std = rng.uniform(-1.0, 1.0, size=A)
    expected = stats.multivariate_normal(np.zeros(A), np.diag(np.exp(2 * log_std))).entropy()
    np.testing.assert_allclose(entropy(log_std), expected, rtol=FLOAT64_RTOL)


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


def _kl_by_quadrature(mu_p, log_std_p, mu_q, log_std_q):
    """KL of diagonal Gaussians = sum over dims of the 1-D integral
    int p(x) (log p(x) - log q(x)) dx, evaluated with scipy.integrate.quad."""
    total = 0.0
    for i in range(len(mu_p)):
        p = stats.norm(mu_p[i], np.exp(log_std_p[i]))
        q = stats.norm(mu_q[i], np.exp(log_std_q[i]))
        value, _ = integrate.quad(lambda x: p.pdf(x) * (p.logpdf(x) - q.logpdf(x)), -np.inf, np.inf,
                                  epsabs=1e-13, epsrel=1e-12)
        total += value
    return total


def test_kl_matches_numerical_integration(rng):
    """Closed-form KL vs adaptive quadrature per dim; quad is accurate to ~1e-10
    here, so we accept an absolute difference of 1e-9."""
    mu_p, mu_q = rng.normal(size=(2, A))
    log_std_p, log_std_q = rng.uniform(-0.7, 0.7, size=(2, A))
    expected = _kl_by_quadrature(mu_p, log_std_p, mu_q, log_std_q)
    assert abs(kl(mu_p, log_std_p, mu_q, log_std_q) - expected) < 1e-9


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


def test_kl_of_a_distribution_with_itself_is_zero_and_batched(rng):
    """KL(p || p) = 0 for every row; KL of (M, A) means is (M,) and non-negative."""
    mu = rng.normal(size=(5, A))
    log_std = rng.normal(size=A)
    np.testing.assert_allclose(kl(mu, log_std, mu, log_std), np.zeros(5), atol=1e-15)
    other = kl(mu, log_std, rng.normal(size=(5, A)), rng.normal(size=A))
    assert other.shape == (5,) and np.all(other > 0)


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


def test_log_prob_grads_match_finite_differences(rng):
    """d/dmu and d/dlog_std of L = sum_m log_prob(a_m) * dout_m, random dout. The
    per-sample rows of log_prob_grads are weighted by dout (and summed over samples
    for log_std, which every sample shares)."""
    a, mu, log_std = _gaussian(rng, m=6)
    dout = rng.normal(size=6)

    def loss():
        return float(np.sum(log_prob(a, mu, log_std) * dout))

    dmu, dlog_std = log_prob_grads(a, mu, log_std)
    assert dmu.shape == mu.shape and dlog_std.shape == mu.shape
    assert rel_error(dout[:, None] * dmu, numerical_gradient(loss, mu)) < GRAD_RTOL
    assert rel_error(dout @ dlog_std, numerical_gradient(loss, log_std)) < GRAD_RTOL


def test_entropy_gradient_is_one_per_dim(rng):
    """d entropy / d log_std_i = 1 (the formula losses.py uses), checked by finite
    differences with a random upstream scalar."""
    log_std = rng.normal(size=A)
    dout = rng.normal()
    numeric = numerical_gradient(lambda: dout * entropy(log_std), log_std)
    assert rel_error(dout * np.ones(A), numeric) < GRAD_RTOL


@pytest.mark.parametrize("shape", [(A,), (2, 4, A)])
def test_log_prob_accepts_any_leading_shape(rng, shape):
    """mu and a are (..., A); the result drops the last axis."""
    mu = rng.normal(size=shape)
    a = rng.normal(size=shape)
    log_std = rng.normal(size=A)
    lp = log_prob(a, mu, log_std)
    assert lp.shape == shape[:-1]
    np.testing.assert_allclose(lp, stats.norm.logpdf(a, mu, np.exp(log_std)).sum(-1), rtol=FLOAT64_RTOL)
