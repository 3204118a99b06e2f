"""Tests of ppo_ref.core.gae (SPEC 4).

Hand-computed tables in the style of rlax / Stable-Baselines3: small T, numbers
chosen to be exact in binary (gamma = lambda = 0.5), each expected value worked
out by hand in a comment. The general properties (lambda = 0 gives the TD error,
lambda = 1 the discounted return, the recursion equals the O(T^2) sum, what a
termination, a truncation or an episode end changes, envs never mix) are proven
on generated rollouts in property_tests/test_gae_properties.py.
"""

import numpy as np

from ppo_ref.core.gae import gae
from ppo_ref.testing import FLOAT64_RTOL

GAMMA = LAM = 0.5  # gamma * lambda = 0.25; every number below is exact in binary


def test_hand_table_single_episode():
    """No episode ends inside the rollout; v'_t = v_{t+1}, and the last step
    bootstraps from v'_{T-1} = 2.5 (SPEC 4.2: A_{T-1} = delta_{T-1})."""
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
    adv, ret = gae(R5, V5, V5_NEXT, TERM5, TRUNC5, GAMMA, LAM, bootstrap_truncation=False)
    np.testing.assert_allclose(adv, ADV5_NO_BOOTSTRAP, rtol=FLOAT64_RTOL)
    np.testing.assert_allclose(ret, ADV5_NO_BOOTSTRAP + V5, rtol=FLOAT64_RTOL)


def test_batched_hand_table():
    """A (T, N) call on two envs with the same rewards and values but different
    flags: env 0 is the table above (terminated at t = 1, truncated at t = 3), env 1
    terminates at both steps, which is the table without truncation bootstrapping.
    Each column gets its own table's numbers: envs never mix."""
    def columns(env_0, env_1):
        return np.stack([env_0, env_1], axis=1)

    adv, ret = gae(columns(R5, R5), columns(V5, V5), columns(V5_NEXT, V5_NEXT),
                   columns(TERM5, TERM5 | TRUNC5), columns(TRUNC5, np.zeros(5, bool)), GAMMA, LAM)
    assert adv.shape == ret.shape == (5, 2)
    np.testing.assert_allclose(adv, columns(ADV5_BOOTSTRAP, ADV5_NO_BOOTSTRAP), rtol=FLOAT64_RTOL)
    np.testing.assert_allclose(ret, columns(ADV5_BOOTSTRAP + V5, ADV5_NO_BOOTSTRAP + V5), rtol=FLOAT64_RTOL)


def test_truncations_are_bootstrapped_by_default():
    """bootstrap_truncation defaults to True (SPEC 4.3): a truncated step's target
    is r + gamma V(final obs)."""
    rewards, values, next_values = np.array([1.0, 1.0]), np.array([0.5, 0.5]), np.array([2.0, 3.0])
    terminated, truncated = np.array([False, False]), np.array([True, False])
    adv, _ = gae(rewards, values, next_values, terminated, truncated, 0.9, 0.8)
    bootstrapped, _ = gae(rewards, values, next_values, terminated, truncated, 0.9, 0.8, bootstrap_truncation=True)
    np.testing.assert_array_equal(adv, bootstrapped)
    assert adv[0] == 1.0 + 0.9 * 2.0 - 0.5
