"""Tests of ppo_ref.core.normalization (SPEC 3): running mean/variance, observation
normalisation and reward scaling, on hand examples and against gymnasium's merge.

Oracle for the running statistics: the exact mean and population variance of
everything seen, pooled with the prior (count 1e-4, mean 0, var 1) as if it were
a tiny batch:

    n = 1e-4 + sum of batch sizes
    mean = sum(x) / n
    var = (1e-4 * (1 + mean^2) + sum((x - mean)^2)) / n

That the statistics equal this closed form after any split of the data into
batches, that normalised observations are clipped monotone standard scores, and
that reward scaling follows the return recursion over many random steps are
properties, in property_tests/test_normalizer_properties.py.
"""

import numpy as np
import pytest

from ppo_ref.core.normalization import (normalize_obs, reward_scaler_init, rms_init, rms_update, RunningMeanStd,
                                   scale_reward)
from ppo_ref.testing import FLOAT64_RTOL, RMS_PRIOR_RTOL

PRIOR_COUNT = 1e-4  # SPEC 3.1, restated on purpose
NORM_EPS = 1e-8
CLIP = 10.0


def _pooled_stats(x):
    """Exact statistics of the rows of x pooled with the prior."""
    n = PRIOR_COUNT + x.shape[0]
    mean = x.sum(axis=0) / n
    var = (PRIOR_COUNT * (1.0 + mean**2) + ((x - mean) ** 2).sum(axis=0)) / n
    return mean, var, n


def test_rms_of_one_batch_is_numpys_mean_and_var_up_to_the_prior(rng):
    """One batch of 50 rows: the count is the prior's 1e-4 plus 50, and mean and
    variance are plain np.mean / np.var (ddof 0) up to the prior's tiny weight
    (RMS_PRIOR_RTOL); the exact pooled values are the property's closed form."""
    x = rng.normal(5.0, 3.0, size=(50, 3))
    rms = rms_update(rms_init((3,)), x)
    assert rms.count == PRIOR_COUNT + 50
    np.testing.assert_allclose(rms.mean, x.mean(axis=0), rtol=RMS_PRIOR_RTOL)
    np.testing.assert_allclose(rms.var, x.var(axis=0), rtol=RMS_PRIOR_RTOL)


def test_rms_init_is_the_gymnasium_prior():
    rms = rms_init((2,))
    np.testing.assert_array_equal(rms.mean, [0.0, 0.0])
    np.testing.assert_array_equal(rms.var, [1.0, 1.0])
    assert rms.count == PRIOR_COUNT


def test_normalize_obs_standardises_and_clips_at_ten():
    """clip((obs - mean) / sqrt(var + 1e-8), -10, 10), per dimension; the
    statistics are read, never changed."""
    rms = RunningMeanStd(np.array([1.0, -2.0, 0.0]), np.array([4.0, 0.25, 1.0]), 10.0)
    obs = np.array([[3.0, -2.0, 100.0],
                    [1.0, -10.0, -100.0],
                    [-1.0, 2.0, 9.5]])
    out = normalize_obs(obs, rms)
    # row 0: 2 / sqrt(4 + 1e-8), 0, 100 -> clipped to 10
    # row 1: 0, -8 / sqrt(0.25 + 1e-8) ~ -16 -> clipped to -10, -100 -> -10
    # row 2: -2 / sqrt(4 + 1e-8), 4 / sqrt(0.25 + 1e-8) ~ 8, 9.5 / sqrt(1 + 1e-8)
    expected = np.array([[2 / np.sqrt(4 + NORM_EPS), 0.0, CLIP],
                         [0.0, -CLIP, -CLIP],
                         [-2 / np.sqrt(4 + NORM_EPS), 4 / np.sqrt(0.25 + NORM_EPS), 9.5 / np.sqrt(1 + NORM_EPS)]])
    np.testing.assert_allclose(out, expected, rtol=FLOAT64_RTOL)
    assert out[0, 2] == CLIP and out[1, 1] == -CLIP and out[1, 2] == -CLIP
    np.testing.assert_array_equal(rms.mean, [1.0, -2.0, 0.0])
    np.testing.assert_array_equal(rms.var, [4.0, 0.25, 1.0])


def test_scale_reward_return_recursion_and_reset_by_hand():
    """One env, gamma = 0.5, rewards 1, 1, 1, 1 with the episode ending at step 2:
    G = 1, 1 + 0.5 * 1 = 1.5 (then reset to 0), 1, 1 + 0.5 * 1 = 1.5. The running
    statistics see exactly these four values."""
    scaler = reward_scaler_init(1)
    kept = []
    for done in (False, True, False, False):
        _, scaler = scale_reward(scaler, np.array([1.0]), np.array([done]), 0.5)
        kept.append(scaler.returns[0])
    assert kept == [1.0, 0.0, 1.0, 1.5]
    mean, var, n = _pooled_stats(np.array([1.0, 1.5, 1.0, 1.5]))
    np.testing.assert_allclose(scaler.rms.mean, mean, rtol=FLOAT64_RTOL)
    np.testing.assert_allclose(scaler.rms.var, var, rtol=FLOAT64_RTOL)
    assert scaler.rms.count == n


def test_scale_reward_divides_by_the_variance_after_the_update():
    """First step, one env, r = 0.5: before the update var_G is the prior's 1 (which
    would give 0.5); after it var_G ~ 1.25e-4, so r / sqrt(var) ~ 45, clipped to 10.
    Second step with r = -0.25 (G = 0): var grows, the scaled value is finite,
    negative and unclipped, and uses the updated variance."""
    scaler = reward_scaler_init(1)
    scaled, scaler = scale_reward(scaler, np.array([0.5]), np.array([False]), 0.5)
    assert scaled[0] == CLIP
    scaled, scaler = scale_reward(scaler, np.array([-0.25]), np.array([False]), 0.5)
    _, var, _ = _pooled_stats(np.array([0.5, 0.0]))
    np.testing.assert_allclose(scaled, [-0.25 / np.sqrt(var + NORM_EPS)], rtol=FLOAT64_RTOL)
    assert -CLIP < scaled[0] < 0


def test_scale_reward_clips_both_signs():
    """A reward far larger than the spread of G seen so far is clipped to +-10.
    The variance already includes this step's G = +-50: with 600 small values
    before it, var_G ~ 2 * 50^2 / 602 ~ 8.3, so 50 / sqrt(8.3) ~ 17 > 10."""
    scaler = reward_scaler_init(2)
    for _ in range(300):
        _, scaler = scale_reward(scaler, np.array([0.01, -0.01]), np.array([True, True]), 0.99)
    scaled, _ = scale_reward(scaler, np.array([50.0, -50.0]), np.array([False, False]), 0.99)
    np.testing.assert_array_equal(scaled, [CLIP, -CLIP])


def _gymnasium_merge(rms, x):
    """gymnasium's RunningMeanStd.update, written out (np.mean, np.var, then
    update_mean_var_count_from_moments) as the oracle for ppo_ref's merge."""
    batch_mean, batch_var, batch_count = np.mean(x, axis=0), np.var(x, axis=0), x.shape[0]
    delta = batch_mean - rms.mean
    tot_count = rms.count + batch_count
    new_mean = rms.mean + delta * batch_count / tot_count
    m_2 = rms.var * rms.count + batch_var * batch_count + np.square(delta) * rms.count * batch_count / tot_count
    return new_mean, m_2 / tot_count, tot_count


def test_one_row_updates_equal_gymnasiums_merge_bit_for_bit(rng):
    """With one env the statistics merge one row at a time; the numbers must be
    those of gymnasium's merge, bit for bit, over many steps, for
    observation-shaped and reward-shaped (scalar) statistics."""
    for shape, draw in (((3,), lambda: rng.normal([5.0, -2.0, 0.0], [3.0, 0.1, 1e3], size=(1, 3))),
                        ((), lambda: rng.normal(0.5, 2.0, size=1))):
        rms = rms_init(shape)
        mean, var, count = rms.mean, rms.var, rms.count
        for _ in range(200):
            x = draw()
            rms = rms_update(rms, x)
            mean, var, count = _gymnasium_merge(RunningMeanStd(mean, var, count), x)
            np.testing.assert_array_equal(rms.mean, mean)
            np.testing.assert_array_equal(rms.var, var)
            assert rms.count == count


@pytest.mark.parametrize("rows", [2, 3, 7, 64])
def test_multi_row_updates_equal_gymnasiums_merge_bit_for_bit(rng, rows):
    """Several envs merge several rows a step: rms_update spells np.mean and np.var
    out as sums, and must give gymnasium's merge (which calls them) bit for bit."""
    rms = rms_init((4,))
    mean, var, count = rms.mean, rms.var, rms.count
    for _ in range(50):
        x = rng.normal([5.0, -2.0, 0.0, 1e4], [3.0, 0.1, 1e3, 1.0], size=(rows, 4))
        rms = rms_update(rms, x)
        mean, var, count = _gymnasium_merge(RunningMeanStd(mean, var, count), x)
        np.testing.assert_array_equal(rms.mean, mean)
        np.testing.assert_array_equal(rms.var, var)
        assert rms.count == count
