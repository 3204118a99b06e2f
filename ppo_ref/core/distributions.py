"""Diagonal Gaussian policy with a state-independent log standard deviation (SPEC 2).

Shapes: ``mu`` and actions ``a`` are (..., A) (usually (M, A)); ``log_std`` is (A,)
and is shared by every state. ``sigma = exp(log_std)``. No epsilon is added
anywhere: log_std is a free parameter, so sigma is never 0.
"""

import numpy as np

from .checks import check_entropy, check_kl, check_log_prob, check_sample, checked

LOG_2PI = float(np.log(2.0 * np.pi))


def sample(rng, mu, log_std):
    """``a = mu + sigma * eps`` with ``eps ~ N(0, I)`` drawn from ``rng``; (..., A)."""
    return mu + np.exp(log_std) * rng.standard_normal(mu.shape).astype(mu.dtype)


sample = checked(sample, check_sample)


def log_prob(a, mu, log_std):
    """Log-density of ``a`` under N(mu, diag(sigma^2)), summed over action dims.

    log_prob(a) = sum_i [ -(a_i - mu_i)^2 / (2 sigma_i^2) - log_std_i - 0.5 log(2 pi) ]

    a, mu: (..., A); log_std: (A,) -> (...,).
    """
    var = np.exp(2.0 * log_std)
    return np.sum(-((a - mu) ** 2) / (2.0 * var) - log_std - 0.5 * LOG_2PI, axis=-1)


log_prob = checked(log_prob, check_log_prob)


def log_prob_grads(a, mu, log_std):
    """Per-sample gradients of :func:`log_prob` with respect to ``mu`` and ``log_std``.

    d log_prob / d mu_i      = (a_i - mu_i) / sigma_i^2
    d log_prob / d log_std_i = (a_i - mu_i)^2 / sigma_i^2 - 1
        (from -(a - mu)^2 exp(-2 log_std) / 2 - log_std)

    Returns ``(dmu, dlog_std)``, both (..., A): one row per sample, not summed.
    """
    var = np.exp(2.0 * log_std)
    diff = a - mu
    return diff / var, diff * diff / var - 1.0


def entropy(log_std):
    """Differential entropy of the Gaussian, the same for every state.

    entropy = sum_i [ log_std_i + 0.5 (1 + log(2 pi)) ];  d entropy / d log_std_i = 1.
    """
    return float(np.sum(log_std + 0.5 * (1.0 + LOG_2PI)))


entropy = checked(entropy, check_entropy)


def kl(mu_p, log_std_p, mu_q, log_std_q):
    """KL(p || q) between two diagonal Gaussians, summed over action dims.

    KL = sum_i [ log_std_q - log_std_p + (sigma_p^2 + (mu_p - mu_q)^2) / (2 sigma_q^2) - 0.5 ]

    mu_p, mu_q: (..., A); log_std_p, log_std_q: (A,) -> (...,).
    """
    var_p, var_q = np.exp(2.0 * log_std_p), np.exp(2.0 * log_std_q)
    return np.sum(log_std_q - log_std_p + (var_p + (mu_p - mu_q) ** 2) / (2.0 * var_q) - 0.5, axis=-1)


kl = checked(kl, check_kl)
