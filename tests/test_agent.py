"""Tests of ppo_ref.core.agent: the rollout's fused evaluation of both networks gives
exactly the numbers of the two networks evaluated one by one (mlp.py), which is
what the update recomputes; any difference would make the ratio at the first
epoch differ from 1 for no reason."""

import numpy as np
import pytest

from ppo_ref.core.agent import init_params, joint_first_layer, policy_and_value, policy_mean, value


@pytest.mark.parametrize("obs_dim, act_dim", [(376, 17), (11, 3), (2, 1)])
@pytest.mark.parametrize("rows", [1, 2, 4, 64])
def test_policy_and_value_equal_the_networks_one_by_one_bit_for_bit(rng, obs_dim, act_dim, rows):
    params = init_params(rng, obs_dim, act_dim)
    # trained-looking parameters: no zero biases, a policy output well away from 0
    params = {k: p + rng.normal(0.0, 0.1, p.shape) for k, p in params.items()}
    obs = rng.normal(size=(rows, obs_dim))
    mu, v = policy_and_value(params, joint_first_layer(params), obs)
    assert mu.shape == (rows, act_dim) and v.shape == (rows,)
    np.testing.assert_array_equal(mu, policy_mean(params, obs))
    np.testing.assert_array_equal(v, value(params, obs))


def test_joint_first_layer_puts_the_first_layers_side_by_side(rng):
    params = init_params(rng, 5, 2)
    W0, b0 = joint_first_layer(params)
    np.testing.assert_array_equal(W0, np.hstack([params["pi.W0"], params["v.W0"]]))
    np.testing.assert_array_equal(b0, np.concatenate([params["pi.b0"], params["v.b0"]]))
