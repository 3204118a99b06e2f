"""The fast engine gives the reference core's numbers bit for bit: each fast
function against the core function it replaces, on hypothesis-generated shapes,
parameters and data (tests/test_engines.py does the same on the golden cases and
on whole training runs)."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from ppo_ref.core import agent, distributions, losses, mlp, normalization, optim
from ppo_ref.core.mlp import HIDDEN
from ppo_ref.engines import REFERENCE
from ppo_ref.fast import FAST, loss, nets, stats
from ppo_ref.fast import adam as fast_adam
from ppo_ref.fast.adam import PackedAdam
from ppo_ref.update import LossOptions

SEEDS = st.integers(0, 2**32 - 1)


@st.composite
def agents(draw, max_rows=64, first_width=None):
    """(params, obs, rng): random parameters of random sizes (not initialiser-shaped,
    so that no bias is 0), a batch of observations, and a generator for the rest.
    ``first_width``: the width of the first hidden layer (default: random)."""
    obs_dim, act_dim = draw(st.integers(1, 40)), draw(st.integers(1, 5))
    hidden = tuple(draw(st.lists(st.integers(1, 16), min_size=1, max_size=3)))
    if first_width is not None:
        hidden = (first_width, *hidden[1:])
    rows = draw(st.integers(1, max_rows))
    rng = np.random.default_rng(draw(SEEDS))
    params = agent.init_params(rng, obs_dim, act_dim, hidden)
    params = {k: p + rng.normal(0.0, 0.3, p.shape) for k, p in params.items()}
    return params, rng.normal(0.0, 2.0, (rows, obs_dim)), rng


def assert_same(actual, expected):
    """Bit for bit: the same shape, dtype and every value (and the same dict order)."""
    if isinstance(expected, dict):
        assert list(actual) == list(expected)
        for k in expected:
            assert_same(actual[k], expected[k])
        return
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)


# The joint first layer is one (D, 2H) product instead of two (D, H) ones. BLAS
# computes a product's columns in blocks, so column j of the joint product is
# the same dot product, summed in the same order, as in its own network's product
# only when H is a multiple of the kernel's block: with OpenBLAS's x86-64 kernels
# widths that are not a multiple of 8 differ in the last bit. ppo_ref's networks
# are 64 wide (core.mlp.HIDDEN), which these tests use; tests/test_engines.py
# checks whole training runs with them.
@given(agents(first_width=HIDDEN[0]))
def test_joint_first_layer_forward_is_the_two_networks_one_by_one(case):
    params, obs, _ = case
    mu, v = nets.policy_and_value(params, nets.joint_first_layer(params), obs)
    assert_same(mu, agent.policy_mean(params, obs))
    assert_same(v, agent.value(params, obs))
    assert_same(FAST.value(params, obs), agent.value(params, obs))


@given(agents(), st.sampled_from(["pi", "v"]))
def test_mlp_backward_into_given_arrays_is_the_cores(case, prefix):
    params, obs, rng = case
    y, cache = mlp.mlp_forward(params, prefix, obs)
    dy = rng.normal(size=y.shape)
    _, grads = mlp.mlp_backward(dy, cache, need_dx=False)
    out = {k: np.full_like(p, np.nan) for k, p in params.items()}
    nets.mlp_backward_into(dy, cache, out)
    assert_same({k: out[k] for k in grads}, grads)
    assert all(np.isnan(out[k]).all() for k in out if k not in grads)  # the other network's arrays untouched


@given(agents(max_rows=32), st.floats(0.01, 0.5), st.sampled_from([0.0, 0.01, 0.3]), st.floats(0.0, 2.0),
       st.booleans(), st.booleans())
def test_loss_into_the_packed_buffer_is_the_cores(case, clip_coef, ent_coef, vf_coef, clip_vloss, norm_adv):
    params, obs, rng = case
    m = obs.shape[0] + 1  # norm_adv needs two samples
    obs = np.vstack([obs, rng.normal(size=obs.shape[1])])
    mu = agent.policy_mean(params, obs)
    actions = mu + np.exp(params["log_std"]) * rng.standard_normal(mu.shape)
    values = agent.value(params, obs) + rng.normal(0.0, 0.3, m)
    batch = (obs, actions, distributions.log_prob(actions, mu, params["log_std"]) + rng.normal(0.0, 0.3, m),
             rng.normal(0.5, 2.0, m), values + rng.normal(0.0, 1.0, m), values)
    expected = losses.ppo_loss(params, *batch, clip_coef=clip_coef, ent_coef=ent_coef, vf_coef=vf_coef,
                               clip_vloss=clip_vloss, norm_adv=norm_adv)
    adam = PackedAdam(params, optim.adam_init(params))
    mb = dict(zip(("obs", "actions", "logprobs_old", "advantages", "returns", "values_old"), batch))
    result = loss.loss_into(adam.params, mb, LossOptions(clip_coef, ent_coef, vf_coef, clip_vloss, norm_adv),
                            out=adam.grads)
    assert result[0] == expected[0] and result[2] == expected[2]
    assert_same(result[1], expected[1])
    assert all(result[1][k] is adam.grads[k] for k in params)
    assert list(result[1]) == agent.grad_norm_order(params)


@given(agents(max_rows=1), st.lists(st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1e-2)), min_size=1, max_size=6),
       st.sampled_from([1, 7, 64, fast_adam.CHUNK]))
def test_packed_adam_is_adam_step(case, steps, chunk):
    """Several steps with clipping scales and learning rates, from a state with
    moments, with the buffer stepped in blocks of ``chunk`` elements (blocks that
    split parameter arrays, and one block for all)."""
    params, _, rng = case
    opt = optim.adam_init(params)
    for k, p in params.items():
        opt["m"][k][...] = rng.normal(0.0, 1e-3, p.shape)
        opt["v"][k][...] = rng.normal(0.0, 1e-3, p.shape) ** 2
    ref_params, ref_opt = {k: p.copy() for k, p in params.items()}, {
        "m": {k: a.copy() for k, a in opt["m"].items()}, "v": {k: a.copy() for k, a in opt["v"].items()}, "t": 0}
    default, fast_adam.CHUNK = fast_adam.CHUNK, chunk
    try:
        adam = PackedAdam(params, opt)
    finally:
        fast_adam.CHUNK = default
    for scale, lr in steps:
        grads = {k: rng.normal(size=p.shape) for k, p in params.items()}
        for k in grads:
            adam.grads[k][...] = grads[k]
        adam.step(scale, lr)
        optim.adam_step(ref_params, {k: g * scale for k, g in grads.items()}, ref_opt, lr)
    adam.unpack(params, opt)
    assert opt["t"] == ref_opt["t"] == len(steps)
    assert_same(params, ref_params)
    assert_same(opt["m"], ref_opt["m"])
    assert_same(opt["v"], ref_opt["v"])


@given(SEEDS, st.lists(st.integers(1, 5), min_size=1, max_size=20), st.integers(1, 6))
def test_running_statistics_merge_is_the_cores(seed, rows, dim):
    """Merges of one row (the fast engine's shortcut) and of several rows, in turn,
    from very different scales."""
    rng = np.random.default_rng(seed)
    fast, ref = normalization.rms_init((dim,)), normalization.rms_init((dim,))
    for n in rows:
        x = rng.normal(rng.normal(0.0, 100.0, dim), rng.uniform(1e-3, 1e3, dim), (n, dim))
        fast, ref = stats.merge(fast, x), normalization.rms_update(ref, x)
        assert_same(fast.mean, ref.mean)
        assert_same(fast.var, ref.var)
        assert fast.count == ref.count


@given(agents(max_rows=8, first_width=HIDDEN[0]), SEEDS)
def test_the_rollouts_policy_step_is_the_cores(case, seed):
    """The fast engine's act (joint first layer, unchecked sampling and log-prob)
    against the reference engine's, drawing from equal generators."""
    params, obs, _ = case
    fast = FAST.policy(params)(obs, np.random.default_rng(seed))
    ref = REFERENCE.policy(params)(obs, np.random.default_rng(seed))
    for a, b in zip(fast, ref):
        assert_same(a, b)
