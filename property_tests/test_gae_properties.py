"""Properties of generalised advantage estimation, SPEC 4 (ppo_ref.core.gae).

Oracles are naive loops over one env's column, written from SPEC 4's words:
the TD error, the discounted return to the episode end, and the O(T^2) sum
``A_t = sum_l (gamma lambda)^l delta_{t+l}`` within an episode. Inputs are
(T,) or (T, N); the oracles run column by column.

"Episode end" at step t: the first k >= t with done_k = terminated_k or
truncated_k, or the rollout's last step T - 1. A_t is a function of the rows
t..end only. Row k holds r_k, v_k, v'_k and the flags of step k; in particular
v'_end (the value of the final observation) belongs to the ending row, while
v_{end+1} (the value of the next episode's first state) does not.
"""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from ppo_ref.core.gae import gae

from .strategies import (GaeInputs, assert_close, bool_arrays, coefficients, discounts, float_arrays, gae_inputs,
                         gae_scale, gammas, lambdas)


def columns(inputs):
    """Yield the inputs of each env as (T,) arrays."""
    as_2d = [np.reshape(x, (x.shape[0], -1)) for x in inputs]
    for n in range(as_2d[0].shape[1]):
        yield GaeInputs(*(x[:, n] for x in as_2d))


def stacked(per_column, shape):
    """Inverse of :func:`columns` for one output: list of (T,) -> array of ``shape``."""
    return np.stack(per_column, axis=1).reshape(shape)


def is_terminal(col, k, bootstrap_truncation):
    """Step k ended with no future worth bootstrapping: terminated, or truncated
    when truncation bootstrapping is off."""
    return bool(col.terminated[k] or (col.truncated[k] and not bootstrap_truncation))


def episode_end(col, t, bootstrap_truncation):
    """First k >= t where the episode ends, or T - 1; and whether it ends terminally."""
    last = len(col.rewards) - 1
    for k in range(t, last + 1):
        if col.terminated[k] or col.truncated[k]:
            return k, is_terminal(col, k, bootstrap_truncation)
    return last, False


def naive_delta(col, gamma, bootstrap_truncation):
    """delta_t = r_t + gamma * v'_t - v_t, without the gamma v'_t term at a terminal step."""
    out = np.zeros(len(col.rewards))
    for t in range(len(out)):
        out[t] = col.rewards[t] - col.values[t]
        if not is_terminal(col, t, bootstrap_truncation):
            out[t] += gamma * col.next_values[t]
    return out


def naive_lambda_sum(col, gamma, lam, bootstrap_truncation):
    """A_t = sum_{l=0}^{end - t} (gamma lam)^l delta_{t+l}, the O(T^2) definition."""
    delta = naive_delta(col, gamma, bootstrap_truncation)
    out = np.zeros(len(delta))
    for t in range(len(delta)):
        end, _ = episode_end(col, t, bootstrap_truncation)
        out[t] = sum((gamma * lam) ** (k - t) * delta[k] for k in range(t, end + 1))
    return out


def naive_discounted_return(col, gamma, bootstrap_truncation):
    """G_t = sum_{k=t}^{end} gamma^{k-t} r_k, plus gamma^{end-t+1} v'_end unless the
    episode terminated at `end` (truncation or the rollout's end bootstraps)."""
    out = np.zeros(len(col.rewards))
    for t in range(len(out)):
        end, terminal = episode_end(col, t, bootstrap_truncation)
        g = sum(gamma ** (k - t) * col.rewards[k] for k in range(t, end + 1))
        if not terminal:
            g += gamma ** (end - t + 1) * col.next_values[end]
        out[t] = g
    return out


def run_oracle(oracle, inputs, *args):
    return stacked([oracle(col, *args) for col in columns(inputs)], inputs.rewards.shape)


@given(gae_inputs(), gammas, st.booleans())
def test_lambda_zero_gives_the_td_error(inputs, gamma, bootstrap_truncation):
    adv, ret = gae(*inputs, gamma, 0.0, bootstrap_truncation=bootstrap_truncation)
    delta = run_oracle(naive_delta, inputs, gamma, bootstrap_truncation)
    assert_close(adv, delta, gae_scale(inputs))
    assert_close(ret, delta + inputs.values, gae_scale(inputs))


@given(gae_inputs(consistent=True), gammas, st.booleans())
def test_lambda_one_gives_discounted_return_to_episode_end_minus_value(inputs, gamma, bootstrap_truncation):
    """Holds on consistent data (v'_t = v_{t+1} inside an episode), where the sum of
    TD errors telescopes."""
    adv, ret = gae(*inputs, gamma, 1.0, bootstrap_truncation=bootstrap_truncation)
    g = run_oracle(naive_discounted_return, inputs, gamma, bootstrap_truncation)
    assert_close(adv, g - inputs.values, gae_scale(inputs))
    assert_close(ret, g, gae_scale(inputs))


@given(gae_inputs(), gammas, lambdas, st.booleans())
def test_recursion_equals_the_quadratic_lambda_sum_within_an_episode(inputs, gamma, lam, bootstrap_truncation):
    adv, ret = gae(*inputs, gamma, lam, bootstrap_truncation=bootstrap_truncation)
    expected = run_oracle(naive_lambda_sum, inputs, gamma, lam, bootstrap_truncation)
    assert_close(adv, expected, gae_scale(inputs))
    assert_close(ret, expected + inputs.values, gae_scale(inputs))


def pick_index(data, shape):
    """Draw a (t,) or (t, n) index into an array of ``shape``."""
    return tuple(data.draw(st.integers(0, side - 1), label=f"index {i}") for i, side in enumerate(shape))


def episode_start(done_column, t):
    """First row of the episode that contains row t: one after the previous done."""
    ends_before = np.flatnonzero(done_column[:t])
    return ends_before[-1] + 1 if ends_before.size else 0


@given(gae_inputs(), discounts, discounts, st.data())
def test_terminating_instead_of_truncating_removes_only_the_bootstrap_at_that_step(inputs, gamma, lam, data):
    """Set terminated at a truncated step (done unchanged): delta_t drops by gamma v'_t and
    nothing else changes, so A_k moves by -gamma v'_t (gamma lam)^(t-k) for k from the
    episode's start to t, and every other advantage stays exactly the same."""
    idx = pick_index(data, inputs.rewards.shape)
    truncated, terminated = inputs.truncated.copy(), inputs.terminated.copy()
    truncated[idx], terminated[idx] = True, False
    before = gae(*inputs._replace(terminated=terminated, truncated=truncated), gamma, lam)
    terminated[idx] = True
    after = gae(*inputs._replace(terminated=terminated, truncated=truncated), gamma, lam)

    t, col = idx[0], idx[1:]
    done_column = (terminated | truncated)[(slice(None), *col)]
    start = episode_start(done_column, t)
    window = (slice(start, t + 1), *col)
    expected_shift = -gamma * inputs.next_values[idx] * (gamma * lam) ** (t - np.arange(start, t + 1))
    outside = np.ones(inputs.rewards.shape, dtype=bool)
    outside[window] = False
    for b, a in zip(before, after):  # advantages, then returns
        assert_close(a[window] - b[window], expected_shift, 2.0 * gae_scale(inputs))
        np.testing.assert_array_equal(a[outside], b[outside])


@given(gae_inputs(), gammas, lambdas)
def test_without_truncation_bootstrap_truncated_steps_are_terminated_ones(inputs, gamma, lam):
    off = gae(*inputs, gamma, lam, bootstrap_truncation=False)
    moved = inputs._replace(terminated=inputs.terminated | inputs.truncated,
                            truncated=np.zeros_like(inputs.truncated))
    on = gae(*moved, gamma, lam, bootstrap_truncation=True)
    np.testing.assert_array_equal(off[0], on[0])
    np.testing.assert_array_equal(off[1], on[1])


@st.composite
def gae_input_pairs(draw):
    """Two input sets with the same shape and the same flags."""
    first = draw(gae_inputs())
    second = draw(gae_inputs(shape=first.rewards.shape))
    return first, second._replace(terminated=first.terminated, truncated=first.truncated)


@given(gae_input_pairs(), coefficients, coefficients, gammas, lambdas, st.booleans())
def test_gae_is_linear_in_rewards_values_and_next_values_together(pair, a, b, gamma, lam, bootstrap_truncation):
    """With the flags fixed, (r, v, v') -> (A, R) is linear:
    gae(a x1 + b x2) = a gae(x1) + b gae(x2)."""
    x1, x2 = pair
    mixed = x1._replace(**{f: a * getattr(x1, f) + b * getattr(x2, f) for f in ("rewards", "values", "next_values")})
    out = gae(*mixed, gamma, lam, bootstrap_truncation=bootstrap_truncation)
    out1 = gae(*x1, gamma, lam, bootstrap_truncation=bootstrap_truncation)
    out2 = gae(*x2, gamma, lam, bootstrap_truncation=bootstrap_truncation)
    scale = 3.0 * (abs(a) + abs(b)) * max(gae_scale(x1), gae_scale(x2))
    for got, y1, y2 in zip(out, out1, out2):
        assert_close(got, a * y1 + b * y2, scale)


@given(gae_input_pairs(), coefficients, coefficients, gammas, lambdas, st.booleans())
def test_advantages_are_affine_in_the_rewards_for_fixed_values(pair, a, b, gamma, lam, bootstrap_truncation):
    """With v, v' and the flags fixed, A(r) = A(0) + L r for a linear L, hence
    A(a r1 + b r2) = a A(r1) + b A(r2) + (1 - a - b) A(0)."""
    x1, x2 = pair
    r1, r2 = x1.rewards, x2.rewards

    def advantages(rewards):
        return gae(*x1._replace(rewards=rewards), gamma, lam, bootstrap_truncation=bootstrap_truncation)[0]

    expected = a * advantages(r1) + b * advantages(r2) + (1.0 - a - b) * advantages(np.zeros_like(r1))
    scale = 3.0 * (abs(a) + abs(b) + abs(1.0 - a - b)) * max(gae_scale(x1), gae_scale(x2))
    assert_close(advantages(a * r1 + b * r2), expected, scale)


@given(gae_inputs(), discounts, discounts, st.booleans(), st.data())
def test_rows_after_an_episode_end_do_not_leak_into_it(inputs, gamma, lam, bootstrap_truncation, data):
    """If row d of env n ends an episode (terminated or truncated), A and R at rows <= d
    of that env are functions of rows <= d only. Everything in rows > d of env n is
    redrawn, including v_{d+1}, the value of the next episode's first state, which a
    `values[t + 1]` bug would pick up instead of v'_d. No other env changes either.
    Equality is exact: the recursion multiplies by exactly 0 across a done."""
    idx = pick_index(data, inputs.rewards.shape)
    d, col = idx[0], idx[1:]
    flags = {"terminated": inputs.terminated.copy(), "truncated": inputs.truncated.copy()}
    flags[data.draw(st.sampled_from(sorted(flags)), label="ending flag")][idx] = True
    base = inputs._replace(**flags)

    later = (slice(d + 1, None), *col)
    n_later = inputs.rewards.shape[0] - d - 1
    changed = GaeInputs(*(x.copy() for x in base))
    for x in changed[:3]:
        x[later] = data.draw(float_arrays((n_later,)), label="redrawn later rows")
    for x in changed[3:]:
        x[later] = data.draw(bool_arrays((n_later,)), label="redrawn later flags")

    kept = np.ones(inputs.rewards.shape, dtype=bool)
    kept[later] = False
    out_base = gae(*base, gamma, lam, bootstrap_truncation=bootstrap_truncation)
    out_changed = gae(*changed, gamma, lam, bootstrap_truncation=bootstrap_truncation)
    for b, c in zip(out_base, out_changed):
        np.testing.assert_array_equal(c[kept], b[kept])


@given(gae_inputs(), discounts, discounts, st.booleans(), st.data())
def test_advantages_do_not_depend_on_earlier_rows(inputs, gamma, lam, bootstrap_truncation, data):
    """A_t looks forward only: redrawing every input of rows < t leaves rows >= t unchanged."""
    t = data.draw(st.integers(0, inputs.rewards.shape[0] - 1), label="t")
    rest = inputs.rewards.shape[1:]
    changed = GaeInputs(*(x.copy() for x in inputs))
    for x in changed[:3]:
        x[:t] = data.draw(float_arrays((t, *rest)), label="redrawn earlier rows")
    for x in changed[3:]:
        x[:t] = data.draw(bool_arrays((t, *rest)), label="redrawn earlier flags")
    out = gae(*inputs, gamma, lam, bootstrap_truncation=bootstrap_truncation)
    out_changed = gae(*changed, gamma, lam, bootstrap_truncation=bootstrap_truncation)
    for o, c in zip(out, out_changed):
        np.testing.assert_array_equal(c[t:], o[t:])


@given(gae_inputs(ndim=2), gammas, lambdas, st.booleans())
def test_batched_envs_agree_with_one_env_at_a_time(inputs, gamma, lam, bootstrap_truncation):
    """A (T, N) call equals N independent (T,) calls bit for bit: envs never mix, and
    each column goes through the same float64 operations either way."""
    adv, ret = gae(*inputs, gamma, lam, bootstrap_truncation=bootstrap_truncation)
    assert adv.shape == ret.shape == inputs.rewards.shape
    for n, col in enumerate(columns(inputs)):
        adv_n, ret_n = gae(*col, gamma, lam, bootstrap_truncation=bootstrap_truncation)
        assert adv_n.shape == ret_n.shape == col.rewards.shape
        np.testing.assert_array_equal(adv[:, n], adv_n)
        np.testing.assert_array_equal(ret[:, n], ret_n)
