"""Properties of the running statistics and of observation and reward scaling,
SPEC 3 (ppo_ref.core.normalization).

Oracle for the running statistics: the closed form of the mean and population
variance of everything seen, pooled with the prior (count 1e-4, mean 0, var 1)
as one more weighted group:

    mean = sum(x) / (c0 + n)
    var  = (c0 (1 + mean^2) + sum (x - mean)^2) / (c0 + n)

For reward scaling, a naive per-env loop keeps G and the list of every G seen.
"""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from ppo_ref.core.normalization import (INIT_COUNT, NORM_EPS, OBS_CLIP, REWARD_CLIP, normalize_obs,
                                   reward_scaler_init, rms_init, rms_update, scale_reward)

from .strategies import OBS_BOUND, assert_close, chunked_batches, float_arrays, floats_with_grid, reward_sequences


def pooled_mean_var(x):
    """Closed-form mean and variance over axis 0 of x pooled with the rms prior."""
    total = INIT_COUNT + x.shape[0]
    mean = x.sum(axis=0) / total
    var = (INIT_COUNT * (1.0 + mean * mean) + ((x - mean) ** 2).sum(axis=0)) / total
    return mean, var, total


def moment_scales(x):
    """Round-off scales of the mean and of the variance of x (and of the prior's 1)."""
    size = 1.0 + np.abs(x).max(axis=0)
    return size, size * size


def update_in_chunks(chunks, shape):
    rms = rms_init(shape)
    for chunk in chunks:
        rms = rms_update(rms, chunk)
    return rms


@given(chunked_batches())
def test_rms_updated_in_chunks_equals_rms_updated_at_once(batch):
    x, chunks = batch
    chunked = update_in_chunks(chunks, x.shape[1:])
    at_once = rms_update(rms_init(x.shape[1:]), x)
    mean_scale, var_scale = moment_scales(x)
    assert_close(chunked.mean, at_once.mean, mean_scale)
    assert_close(chunked.var, at_once.var, var_scale)
    assert_close(chunked.count, at_once.count, 0.0)


@given(chunked_batches())
def test_rms_equals_the_closed_form_pooled_with_the_prior(batch):
    x, chunks = batch
    rms = update_in_chunks(chunks, x.shape[1:])
    mean, var, total = pooled_mean_var(x)
    mean_scale, var_scale = moment_scales(x)
    assert_close(rms.mean, mean, mean_scale)
    assert_close(rms.var, var, var_scale)
    assert_close(rms.count, total, 0.0)


@given(chunked_batches(), st.data())
def test_normalized_observations_are_clipped_monotone_standard_scores(batch, data):
    x, chunks = batch
    rms = update_in_chunks(chunks, x.shape[1:])
    # Two observations per coordinate, reaching well beyond the data the statistics saw.
    obs = data.draw(float_arrays((2, *x.shape[1:]), floats_with_grid(-10 * OBS_BOUND, 10 * OBS_BOUND)), label="obs")
    z = normalize_obs(obs, rms)
    assert z.shape == obs.shape
    assert np.all(np.abs(z) <= OBS_CLIP)
    # Per coordinate, a larger observation never gets a smaller normalised value.
    assert np.all((obs[0] > obs[1]) | (z[0] <= z[1]))
    # Where not clipped, the affine map inverts: obs = mean + z sqrt(var + 1e-8).
    std = np.sqrt(rms.var + NORM_EPS)
    inside = np.abs(z) < OBS_CLIP
    recovered = rms.mean + z * std
    scale = np.abs(rms.mean) + np.abs(z) * std
    assert_close(recovered[inside], obs[inside], np.broadcast_to(scale, obs.shape)[inside])


@given(reward_sequences())
def test_scale_reward_matches_a_naive_loop_and_resets_g_on_done(sequence):
    """Step by step: G_t = r_t + gamma G_{t-1} per env; var_G is the pooled variance of
    every G seen so far (this step's included); the scaled reward is
    clip(r / sqrt(var_G + 1e-8), -10, 10) and has the sign of r; G is exactly 0 after
    a done, so the next episode's first G is its first reward."""
    rewards, dones, gamma = sequence
    num_envs = rewards.shape[1]
    scaler = reward_scaler_init(num_envs)
    g = [0.0] * num_envs
    seen = []
    for r, done in zip(rewards, dones):
        scaled, scaler = scale_reward(scaler, r, done, gamma)
        g = [r_n + gamma * g_n for r_n, g_n in zip(r, g)]
        seen.extend(g)
        _, var, _ = pooled_mean_var(np.array(seen))
        _, var_scale = moment_scales(np.array(seen))
        assert_close(scaler.rms.var, var, var_scale)
        # var_G is known to FLOAT64_RTOL * var_scale, so r / sqrt(var_G + 1e-8) to half
        # that relative to var_G + 1e-8.
        expected = np.clip(r / np.sqrt(var + NORM_EPS), -REWARD_CLIP, REWARD_CLIP)
        assert_close(scaled, expected, np.abs(expected) * 0.5 * var_scale / (var + NORM_EPS))
        assert np.all(np.abs(scaled) <= REWARD_CLIP)
        np.testing.assert_array_equal(np.sign(scaled), np.sign(r))

        g = [0.0 if d else g_n for g_n, d in zip(g, done)]
        np.testing.assert_array_equal(scaler.returns, g)
