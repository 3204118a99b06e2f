"""The statistics of ppo-ref compare against hand-computed examples, scipy's own
functions called directly, simulation and the coverage of the stratified bootstrap."""

import warnings

import numpy as np
import pytest
from scipy import stats as st

from ppo_ref.run import stats


def test_iqm_by_hand_and_against_scipy(rng):
    assert stats.iqm(np.arange(1.0, 9.0)) == pytest.approx(4.5)  # the middle four of 1..8: 3, 4, 5, 6
    x = rng.normal(size=37)
    assert stats.iqm(x) == pytest.approx(st.trim_mean(x, 0.25))


def test_percentile_interval_by_hand():
    # Means of resamples of [0, 1]: 0 (1/4), 0.5 (1/2), 1 (1/4): the 2.5 and 97.5 percentiles are 0 and 1.
    assert stats.estimate([0.0, 1.0], "mean", np.random.default_rng(1), resamples=2000) == (0.5, 0.0, 1.0)
    value, low, high = stats.estimate([3.0], "mean", np.random.default_rng(1))
    assert value == 3.0 and np.isnan(low) and np.isnan(high)  # one run: no interval


@pytest.mark.parametrize("name, f", [("mean", np.mean), ("median", np.median),
                                     ("IQM", lambda x, axis: st.trim_mean(x, 0.25, axis=axis))])
def test_interval_is_scipys_percentile_bootstrap(rng, name, f):
    x = rng.gamma(2.0, size=12)
    value, low, high = stats.estimate(x, name, np.random.default_rng(7), resamples=3000)
    ref = st.bootstrap((x,), lambda s, axis: f(s, axis=axis), n_resamples=3000, method="percentile",
                       rng=np.random.default_rng(7))
    assert (low, high) == (ref.confidence_interval.low, ref.confidence_interval.high)
    assert low <= value <= high


def test_welch_by_hand_and_against_scipy():
    a, b = [1.0, 2.0, 3.0], [2.0, 3.0, 5.0]
    diff, low, high, p = stats.welch(a, b)
    # t = (2 - 10/3) / sqrt(1/3 + (7/3)/3), df = (1/3 + 7/9)^2 / ((1/3)^2/2 + (7/9)^2/2)
    se = np.sqrt(1 / 3 + 7 / 9)
    df = (1 / 3 + 7 / 9) ** 2 / ((1 / 3) ** 2 / 2 + (7 / 9) ** 2 / 2)
    assert diff == pytest.approx(-4 / 3)
    assert p == pytest.approx(2 * st.t.sf(abs(diff / se), df))
    half = st.t.ppf(0.975, df) * se
    assert (low, high) == pytest.approx((diff - half, diff + half))
    assert p == pytest.approx(st.ttest_ind(a, b, equal_var=False).pvalue)
    assert np.isnan(stats.welch([1.0], [2.0, 3.0])[3]) and np.isnan(stats.welch([1.0, 1.0], [2.0, 2.0])[3])


def test_welch_with_a_group_of_equal_scores_is_by_hand_and_silent():
    """A group whose runs all score the same (variance exactly 0): the standard error
    is the other group's alone, sqrt(700 / 9) here with df = 2, and scipy's warning of a
    precision loss, which the exact 0 is not, is not passed on to the user."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        diff, low, high, p = stats.welch([20.0, 20.0, 20.0], [10.0, 20.0, 40.0])
    se = np.sqrt(700 / 9)  # the sample variance of 10, 20, 40 is 2100 / 9, over 3 runs
    assert diff == pytest.approx(-10 / 3)
    assert p == pytest.approx(2 * st.t.sf(abs(diff / se), 2))
    half = st.t.ppf(0.975, 2) * se
    assert (low, high) == pytest.approx((diff - half, diff + half))


def test_probability_of_improvement_by_hand_and_against_mann_whitney(rng):
    # 1 beats 0; 2 ties 2 twice and beats 0; 3 beats all three: (1 + 2 + 3) / 9.
    assert stats.probability_of_improvement([1.0, 2.0, 3.0], [2.0, 2.0, 0.0]) == pytest.approx(6 / 9)
    a, b = rng.integers(0, 5, 9).astype(float), rng.integers(0, 5, 7).astype(float)  # with ties
    u = st.mannwhitneyu(a, b).statistic
    assert stats.probability_of_improvement(a, b) == pytest.approx(u / (len(a) * len(b)))


def test_detectable_difference_is_the_normal_formula_for_large_groups(rng):
    a, b = rng.normal(0, 1, 4000), rng.normal(0, 2, 3000)
    se = np.sqrt(a.var(ddof=1) / 4000 + b.var(ddof=1) / 3000)
    assert stats.detectable_difference(a, b) / se == pytest.approx(st.norm.ppf(0.975) + st.norm.ppf(0.8), rel=1e-3)


def test_welchs_test_detects_the_detectable_difference_in_80_percent_of_simulations():
    rng = np.random.default_rng(11)
    n, sd = 10, 3.0
    a0 = rng.normal(0, sd, n)
    a0 = (a0 - a0.mean()) / a0.std(ddof=1) * sd  # groups whose sample sd is exactly sd
    delta = stats.detectable_difference(a0, a0)
    hits = [st.ttest_ind(rng.normal(delta, sd, n), rng.normal(0, sd, n), equal_var=False).pvalue < 0.05
            for _ in range(4000)]
    assert np.mean(hits) == pytest.approx(0.8, abs=0.03)


def test_stratified_bootstrap_covers_the_true_value_in_95_percent_of_repetitions():
    """Three envs of 30 runs each, drawn from normal distributions of known means, each
    normalised by known reference scores: the stratified interval of the mean
    normalised score covers the true one in about 95 % of 200 repetitions (the
    percentile bootstrap's slight undercoverage included), while resampling the runs
    of all envs together, ignoring the strata, covers it nearly always."""
    rng = np.random.default_rng(2024)
    means, sds = np.array([40.0, 2700.0, 20.0]), np.array([10.0, 150.0, 5.0])
    refs = [(0.0, 200.0), (0.0, 3000.0), (-5.0, 50.0)]  # normalised means 0.2, 0.9, 0.45
    truth = np.mean([(m - lo) / (hi - lo) for m, (lo, hi) in zip(means, refs)])

    def mean_of_all(*s, axis):
        return np.concatenate(s, axis=axis).mean(axis=axis)

    covered = {"stratified": 0, "pooled": 0}
    for rep in range(200):
        samples = [(rng.normal(m, sd, 30) - lo) / (hi - lo) for m, sd, (lo, hi) in zip(means, sds, refs)]
        for kind, given in (("stratified", samples), ("pooled", [np.concatenate(samples)])):
            low, high = stats.interval(given, mean_of_all, np.random.default_rng(rep), resamples=1000)
            covered[kind] += low <= truth <= high
    assert 0.90 <= covered["stratified"] / 200 <= 0.98, covered
    assert covered["pooled"] / 200 > 0.99, covered
