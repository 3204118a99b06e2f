"""Tests of ppo_ref.core.mlp and ppo_ref.core.agent: the tanh MLP of SPEC 1, its backward
pass, and the orthogonal initialisation of the agent's parameters."""

import numpy as np
import pytest

from ppo_ref.core.agent import init_params, param_names, policy_mean, value
from ppo_ref.core.mlp import HIDDEN, mlp_backward, mlp_forward
from ppo_ref.testing import FLOAT64_RTOL, check_grads

OBS_DIM, ACT_DIM = 5, 3


def test_mlp_forward_is_tanh_tanh_linear(rng, random_params):
    """Pins the architecture: tanh on the hidden layers, a linear output layer."""
    p = random_params(rng, OBS_DIM, ACT_DIM, hidden=(7, 4))
    x = rng.normal(size=(6, OBS_DIM))
    h1 = np.tanh(x @ p["pi.W0"] + p["pi.b0"])
    h2 = np.tanh(h1 @ p["pi.W1"] + p["pi.b1"])
    expected = h2 @ p["pi.W2"] + p["pi.b2"]
    y, _ = mlp_forward(p, "pi", x)
    np.testing.assert_allclose(y, expected, rtol=FLOAT64_RTOL)
    np.testing.assert_allclose(policy_mean(p, x), expected, rtol=FLOAT64_RTOL)


def test_value_has_shape_m(rng, random_params):
    """V(s) is returned as (M,), the single output column of the value MLP."""
    p = random_params(rng, OBS_DIM, ACT_DIM)
    x = rng.normal(size=(6, OBS_DIM))
    v = value(p, x)
    assert v.shape == (6,)
    h = np.tanh(np.tanh(x @ p["v.W0"] + p["v.b0"]) @ p["v.W1"] + p["v.b1"])
    np.testing.assert_allclose(v, (h @ p["v.W2"] + p["v.b2"])[:, 0], rtol=FLOAT64_RTOL)


@pytest.mark.finite_differences
@pytest.mark.parametrize("prefix, out_dim", [("pi", ACT_DIM), ("v", 1)])
def test_mlp_backward_matches_finite_differences(rng, random_params, prefix, out_dim):
    """dL/dx and dL/d(every W_i, b_i) of L = sum(MLP(x) * dout), random dout,
    on the full-size 64-64 network; one gradient for each of the MLP's arrays,
    none for the other MLP's."""
    p = random_params(rng, OBS_DIM, ACT_DIM, hidden=HIDDEN)
    x = rng.normal(size=(4, OBS_DIM))
    dout = rng.normal(size=(4, out_dim))

    def loss():
        return float(np.sum(mlp_forward(p, prefix, x)[0] * dout))

    _, cache = mlp_forward(p, prefix, x)
    dx, grads = mlp_backward(dout, cache)
    assert sorted(grads) == sorted(k for k in p if k.startswith(prefix + "."))
    check_grads(loss, {"x": x, **p}, {"x": dx, **grads})


def _smaller_gram(W):
    return W.T @ W if W.shape[0] >= W.shape[1] else W @ W.T


def test_init_params_shapes_gains_and_zeros():
    """SPEC 1: (in, out) shapes, gain sqrt(2) on hidden layers, 0.01 on the policy
    output, 1.0 on the value output, zero biases, log_std = 0."""
    p = init_params(np.random.default_rng(1), OBS_DIM, ACT_DIM)
    expected_shapes = {
        "pi.W0": (OBS_DIM, 64), "pi.b0": (64,), "pi.W1": (64, 64), "pi.b1": (64,),
        "pi.W2": (64, ACT_DIM), "pi.b2": (ACT_DIM,),
        "v.W0": (OBS_DIM, 64), "v.b0": (64,), "v.W1": (64, 64), "v.b1": (64,),
        "v.W2": (64, 1), "v.b2": (1,),
        "log_std": (ACT_DIM,),
    }
    assert {k: v.shape for k, v in p.items()} == expected_shapes
    assert param_names(p) == list(expected_shapes)
    gains = {"pi.W0": 2.0, "pi.W1": 2.0, "pi.W2": 0.01**2, "v.W0": 2.0, "v.W1": 2.0, "v.W2": 1.0}
    for k, gain_sq in gains.items():
        gram = _smaller_gram(p[k])
        np.testing.assert_allclose(gram, gain_sq * np.eye(gram.shape[0]), rtol=FLOAT64_RTOL, atol=FLOAT64_RTOL,
                                   err_msg=k)
    for k in ("pi.b0", "pi.b1", "pi.b2", "v.b0", "v.b1", "v.b2", "log_std"):
        assert p[k].dtype == np.float64
        np.testing.assert_array_equal(p[k], 0.0, err_msg=k)


def test_init_params_is_determined_by_the_seed():
    """Same seed gives bit-identical parameters; another seed gives different ones;
    policy and value weights are separate draws (no shared trunk)."""
    a = init_params(np.random.default_rng(7), OBS_DIM, ACT_DIM)
    b = init_params(np.random.default_rng(7), OBS_DIM, ACT_DIM)
    c = init_params(np.random.default_rng(8), OBS_DIM, ACT_DIM)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert not np.array_equal(a["pi.W0"], c["pi.W0"])
    assert not np.array_equal(a["pi.W0"], a["v.W0"])


def test_mlp_backward_without_need_dx_returns_no_input_gradient(rng):
    params = init_params(rng, 3, 2, hidden=(4, 4))
    y, cache = mlp_forward(params, "pi", rng.normal(size=(5, 3)))
    dx, grads = mlp_backward(rng.normal(size=y.shape), cache, need_dx=False)
    assert dx is None and sorted(grads) == sorted(k for k in params if k.startswith("pi."))
    dx, _ = mlp_backward(rng.normal(size=y.shape), cache)
    assert dx.shape == (5, 3)
