"""Statistics of final scores over seeds, for ``ppo-ref compare`` and the learning
curves' bands (Agarwal et al., 2021, "Deep RL at the edge of the statistical
precipice", for the interquartile mean, the stratified bootstrap and the
probability of improvement).

Every interval is a 95 % percentile bootstrap interval (scipy.stats.bootstrap,
``method="percentile"``), but for the difference of two means, which is Welch's
t interval, the interval of the test whose p-value is reported beside it. Every
random draw takes an explicit ``numpy.random.Generator``. scipy is the extra
``ppo_ref[compare]``.
"""

import warnings

import numpy as np

from ppo_ref.errors import import_optional

CONFIDENCE = 0.95
ALPHA = 0.05  # the level of Welch's test
POWER = 0.8  # the power at which detectable_difference is stated
RESAMPLES = 10_000


def _scipy_stats():
    return import_optional("scipy.stats", "ppo-ref compare and the curves' bands", "compare")


def iqm(x, axis=-1):
    """The interquartile mean: the mean of the middle 50 % (scipy's trim_mean with
    a quarter cut from each end; with fewer than 4 values, cuts none)."""
    return _scipy_stats().trim_mean(x, 0.25, axis=axis)


ESTIMATORS = {"mean": np.mean, "median": np.median, "IQM": iqm}


def interval(samples, statistic, rng, resamples=RESAMPLES, axis=-1):
    """The 95 % percentile bootstrap interval ``(low, high)`` of ``statistic(*samples,
    axis=axis)``, each sample resampled with replacement on its own (several samples:
    a stratified bootstrap, one stratum per sample). NaN where a sample has fewer
    than 2 values."""
    samples = [np.asarray(s, dtype=np.float64) for s in samples]
    if min(s.shape[axis] for s in samples) < 2:
        shape = np.delete(samples[0].shape, axis % samples[0].ndim)
        return np.full(shape, np.nan), np.full(shape, np.nan)
    res = _scipy_stats().bootstrap(samples, statistic, n_resamples=resamples, vectorized=True, axis=axis,
                                   confidence_level=CONFIDENCE, method="percentile", rng=rng)
    return res.confidence_interval.low, res.confidence_interval.high


def estimate(x, name, rng, resamples=RESAMPLES):
    """``(value, low, high)`` of the estimator ``name`` (a key of ESTIMATORS) of ``x``."""
    f = ESTIMATORS[name]
    low, high = interval([x], lambda s, axis: f(s, axis=axis), rng, resamples)
    return float(f(np.asarray(x, dtype=np.float64))), float(low), float(high)


def welch(a, b):
    """Welch's t-test of mean(a) = mean(b): ``(difference of means, low, high,
    p-value)`` with the 95 % interval of the difference (scipy.stats.ttest_ind,
    ``equal_var=False``). NaN where a group has fewer than 2 values or neither
    has any spread."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    diff = float(a.mean() - b.mean())
    if min(len(a), len(b)) < 2 or a.var() + b.var() == 0:
        return diff, np.nan, np.nan, np.nan
    with warnings.catch_warnings():  # scipy's warning for equal (or nearly equal) scores: their variance is used as is
        warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
        res = _scipy_stats().ttest_ind(a, b, equal_var=False)
    ci = res.confidence_interval(CONFIDENCE)
    return diff, float(ci.low), float(ci.high), float(res.pvalue)


def probability_of_improvement(a, b, axis=-1):
    """P(X > Y) for X drawn from ``a`` and Y from ``b``, ties counting one half: the
    Mann-Whitney U of ``a`` over the number of pairs, ``len(a) * len(b)``."""
    a, b = np.moveaxis(np.asarray(a), axis, -1), np.moveaxis(np.asarray(b), axis, -1)
    x, y = a[..., :, None], b[..., None, :]  # (..., n, 1), (..., 1, m)
    return ((x > y) + 0.5 * (x == y)).mean(axis=(-2, -1))


def detectable_difference(a, b, power=POWER, alpha=ALPHA):
    """The smallest true difference of means that Welch's test at level ``alpha``
    detects with probability ``power``, for these group sizes and the groups' own
    standard deviations (ddof 1): the noncentrality ``delta / se`` at which the
    noncentral t distribution with Welch-Satterthwaite's degrees of freedom
    exceeds the two-sided critical value with probability ``power``. NaN where a
    group has fewer than 2 values."""
    st = _scipy_stats()
    from scipy.optimize import brentq

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if min(len(a), len(b)) < 2:
        return np.nan
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = np.sqrt(va + vb)
    if se == 0:
        return 0.0
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    crit = st.t.ppf(1 - alpha / 2, df)

    def shortfall(ncp):  # P(T > crit) + P(T < -crit) - power, the second as P(-T > crit)
        return st.nct.sf(crit, df, ncp) + st.nct.sf(crit, df, -ncp) - power

    upper = crit + 1.0
    while shortfall(upper) < 0:
        upper *= 2
    return float(brentq(shortfall, 0.0, upper, xtol=1e-10) * se)
