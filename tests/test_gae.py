"""Tests of ppo_ref.core.gae (SPEC 4).

Hand-computed tables in the style of rlax / Stable-Baselines3: small T, numbers
chosen to be exact in binary (gamma = lambda = 0.5), each expected value worked
out by hand in a comment. The randomised checks use oracles written
independently here: the TD error formula, a naive discounted-return loop, and the
O(T^2) sum of discounted TD errors.
"""

import numpy as np
import pytest

from ppo_ref.core.gae import gae
from ppo_ref.testing import FLOAT64_RTOL

GAMMA = LAM = 0.5  # gamma * lambda = 0.25; every number below is exact in binary


def test_hand_table_single_episode():
    """No episode ends inside the rollout; v'_t = v_{t+1}, and the last step
    bootstraps from v'_{T-1} = 2.5 (SPEC 4: A_{T-1} = delta_{T-1})."""
    r = np.array([1.0, 2.0, 3.0, 4.0])
    v = np.array([0.5, 1.0, 1.5, 2.0])
    v_next = np.array([1.0, 1.5, 2.0, 2.5])
    no = np.zeros(4, dtype=bool)
    # delta_t = r_t + 0.5 v'_t - v_t
    #   delta_0 = 1 + 0.5  - 0.5 = 1.0
    #   delta_1 = 2 + 0.75 - 1.0 = 1.75
    #   delta_2 = 3 + 1.0  - 1.5 = 2.5
    #   delta_3 = 4 + 1.25 - 2.0 = 3.25
    # A_t = delta_t + 0.25 A_{t+1}
    #   A_3 = 3.25
    #   A_2 = 2.5  + 0.25 * 3.25     = 3.3125
    #   A_1 = 1.75 + 0.25 * 3.3125   = 2.578125
    #   A_0 = 1.0  + 0.25 * 2.578125 = 1.64453125
    # R_t = A_t + v_t
    expected_adv = np.array([1.64453125, 2.578125, 3.3125, 3.25])
    expected_ret = np.array([2.14453125, 3.578125, 4.8125, 5.25])
    adv, ret = gae(r, v, v_next, no, no, GAMMA, LAM)
    np.testing.assert_allclose(adv, expected_adv, rtol=FLOAT64_RTOL)
    np.testing.assert_allclose(ret, expected_ret, rtol=FLOAT64_RTOL)


# A rollout of T = 5 with a termination at t = 1 and a truncation at t = 3.
# next_values holds V(true next state): at t = 1 and t = 3 the final observation
# of the episode (8.0 and 4.0), not the first observation of the next one.
R5 = np.array([1.0, 1.0, 1.0, 1.0, 1.0])
V5 = np.array([1.0, 2.0, 1.0, 2.0, 1.0])
V5_NEXT = np.array([2.0, 8.0, 2.0, 4.0, 3.0])
TERM5 = np.array([False, True, False, False, False])
TRUNC5 = np.array([False, False, False, True, False])

# Bootstrapping truncation (the default):
#   delta_0 = 1 + 0.5*2 - 1 = 1
#   delta_1 = 1 + 0     - 2 = -1     terminated: v'_1 = 8 is ignored
#   delta_2 = 1 + 0.5*2 - 1 = 1
#   delta_3 = 1 + 0.5*4 - 2 = 1      truncated: bootstrap from v'_3 = 4
#   delta_4 = 1 + 0.5*3 - 1 = 1.5    rollout end: bootstrap from v'_4 = 3
#   A_4 = 1.5
#   A_3 = delta_3 = 1                done: the recursion stops
#   A_2 = 1 + 0.25 * 1 = 1.25
#   A_1 = delta_1 = -1               done
#   A_0 = 1 + 0.25 * (-1) = 0.75
ADV5_BOOTSTRAP = np.array([0.75, -1.0, 1.25, 1.0, 1.5])
# Truncation treated as termination: only delta_3 changes,
#   delta_3 = 1 + 0 - 2 = -1,  A_3 = -1,  A_2 = 1 + 0.25 * (-1) = 0.75
ADV5_NO_BOOTSTRAP = np.array([0.75, -1.0, 0.75, -1.0, 1.5])


def test_hand_table_terminated_and_truncated():
    """Termination drops v', truncation bootstraps from v', both stop the recursion."""
    adv, ret = gae(R5, V5, V5_NEXT, TERM5, TRUNC5, GAMMA, LAM)
    np.testing.assert_allclose(adv, ADV5_BOOTSTRAP, rtol=FLOAT64_RTOL)
    np.testing.assert_allclose(ret, ADV5_BOOTSTRAP + V5, rtol=FLOAT64_RTOL)


def test_bootstrap_truncation_false_treats_truncation_as_termination():
    """The compatibility switch reproduces CleanRL/baselines: truncated == terminated."""
    adv, _ = gae(R5, V5, V5_NEXT, TERM5, TRUNC5, GAMMA, LAM, bootstrap_truncation=False)
    np.testing.assert_allclose(adv, ADV5_NO_BOOTSTRAP, rtol=FLOAT64_RTOL)
    as_terminated, _ = gae(R5, V5, V5_NEXT, TERM5 | TRUNC5, np.zeros(5, bool), GAMMA, LAM)
    np.testing.assert_allclose(as_terminated, ADV5_NO_BOOTSTRAP, rtol=FLOAT64_RTOL)


def test_truncated_and_terminated_differ_only_by_the_bootstrap_term():
    """Moving the end flag at t = 3 from truncated to terminated changes delta_3 by
    exactly gamma * v'_3 and, through the recursion, only the rows of that episode."""
    a_trunc, _ = gae(R5, V5, V5_NEXT, TERM5, TRUNC5, GAMMA, LAM)
    a_term, _ = gae(R5, V5, V5_NEXT, TERM5 | TRUNC5, np.zeros(5, bool), GAMMA, LAM)
    diff = a_trunc - a_term
    # rows 2 and 3 form the episode; row 3 gains gamma v'_3 = 2, row 2 gains 0.25 * 2.
    np.testing.assert_allclose(diff, [0.0, 0.0, 0.5, 2.0, 0.0], atol=1e-15)


def _random_rollout(rng, shape, p_term=0.15, p_trunc=0.1):
    """Random rewards and values with consistent next values: v'_t = v_{t+1}
    inside an episode, a separate final-observation value where it ends. Besides
    the random episode ends, every env terminates at T // 3 and is truncated at
    2 T // 3, so both kinds of end always occur."""
    r = rng.normal(size=shape)
    v = rng.normal(size=shape)
    term = rng.random(shape) < p_term
    trunc = (rng.random(shape) < p_trunc) & ~term
    t_len = shape[0]
    term[t_len // 3], trunc[t_len // 3] = True, False
    term[2 * t_len // 3], trunc[2 * t_len // 3] = False, True
    v_next = rng.normal(size=shape)
    cont = ~(term | trunc)[:-1]
    v_next[:-1][cont] = v[1:][cont]
    return r, v, v_next, term, trunc


def test_batched_shape_agrees_column_by_column(rng):
    """A (T, N) call equals N independent (T,) calls: envs never mix. The first
    column is the hand table above, so the batched path is also pinned by hand."""
    r, v, v_next, term, trunc = _random_rollout(rng, (5, 3))
    r[:, 0], v[:, 0], v_next[:, 0], term[:, 0], trunc[:, 0] = R5, V5, V5_NEXT, TERM5, TRUNC5
    adv, ret = gae(r, v, v_next, term, trunc, 0.5, 0.5)
    assert adv.shape == ret.shape == (5, 3)
    np.testing.assert_allclose(adv[:, 0], ADV5_BOOTSTRAP, rtol=FLOAT64_RTOL)
    for n in range(3):
        a1, r1 = gae(r[:, n], v[:, n], v_next[:, n], term[:, n], trunc[:, n], 0.5, 0.5)
        np.testing.assert_array_equal(adv[:, n], a1)
        np.testing.assert_array_equal(ret[:, n], r1)


@pytest.mark.parametrize("bootstrap", [True, False])
def test_lambda_zero_gives_the_td_error(rng, bootstrap):
    """lambda = 0: A_t = delta_t = r_t + gamma (1 - end_t) v'_t - v_t, where end is
    terminated (or, without truncation bootstrapping, terminated or truncated)."""
    gamma = 0.97
    r, v, v_next, term, trunc = _random_rollout(rng, (20, 4))
    end = term if bootstrap else term | trunc
    delta = r + gamma * np.where(end, 0.0, v_next) - v
    adv, ret = gae(r, v, v_next, term, trunc, gamma, 0.0, bootstrap_truncation=bootstrap)
    np.testing.assert_allclose(adv, delta, rtol=FLOAT64_RTOL, atol=1e-14)
    np.testing.assert_allclose(ret, delta + v, rtol=FLOAT64_RTOL, atol=1e-14)


def _discounted_return_to_episode_end(r, v_next, term, trunc, gamma, t):
    """Naive loop: sum_l gamma^l r_{t+l} until the episode or the rollout ends,
    plus gamma^(l+1) v'_{t+l} unless it ended by termination."""
    total, discount = 0.0, 1.0
    for k in range(t, len(r)):
        total += discount * r[k]
        discount *= gamma
        if term[k]:
            return total
        if trunc[k] or k == len(r) - 1:
            return total + discount * v_next[k]
    raise AssertionError("unreachable")


def test_lambda_one_gives_discounted_return_minus_value(rng):
    """lambda = 1: A_t = (discounted return to the episode end, bootstrapped by v'
    on truncation or at the rollout end) - v_t. The sum of TD errors telescopes
    because v'_t = v_{t+1} inside an episode."""
    gamma = 0.9
    r, v, v_next, term, trunc = _random_rollout(rng, (25,))
    expected = np.array([_discounted_return_to_episode_end(r, v_next, term, trunc, gamma, t) for t in range(25)]) - v
    adv, _ = gae(r, v, v_next, term, trunc, gamma, 1.0)
    np.testing.assert_allclose(adv, expected, rtol=1e-12, atol=1e-12)


def test_recursion_agrees_with_the_quadratic_sum(rng):
    """A_t = sum_l (gamma lambda)^l delta_{t+l}, summed up to and including the
    step where the episode (or the rollout) ends."""
    gamma, lam = 0.95, 0.8
    r, v, v_next, term, trunc = _random_rollout(rng, (30,))
    delta = r + gamma * np.where(term, 0.0, v_next) - v
    done = term | trunc
    expected = np.zeros(30)
    for t in range(30):
        for k in range(t, 30):
            expected[t] += (gamma * lam) ** (k - t) * delta[k]
            if done[k]:
                break
    adv, _ = gae(r, v, v_next, term, trunc, gamma, lam)
    np.testing.assert_allclose(adv, expected, rtol=1e-12, atol=1e-12)


def test_last_step_uses_next_value_only(rng):
    """A_{T-1} = delta_{T-1} = r + gamma v'_{T-1} - v_{T-1}: the rollout's last step
    looks at v' and nothing past the rollout; it does not depend on earlier rows."""
    gamma, lam = 0.99, 0.95
    r, v, v_next, term, trunc = _random_rollout(rng, (6, 2))
    term[-1], trunc[-1] = False, [False, True]  # env 0 runs on past the rollout, env 1 is truncated
    adv, _ = gae(r, v, v_next, term, trunc, gamma, lam)
    np.testing.assert_allclose(adv[-1], r[-1] + gamma * v_next[-1] - v[-1], rtol=FLOAT64_RTOL)
    r2 = r.copy()
    r2[:-1] += 100.0
    np.testing.assert_array_equal(gae(r2, v, v_next, term, trunc, gamma, lam)[0][-1], adv[-1])
