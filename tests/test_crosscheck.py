"""Cross-check: the JAX port in examples/jax_port, written from the equations of
docs/spec.md with jax.grad for the gradients, against ppo_ref's core, which writes
every derivative by hand. Two independent float64 implementations of the same
formulas agree to testing.FLOAT64_RTOL (measured: about 1e-15, see
examples/jax_port/README.md).

At the kinks (ratio exactly 1 +- eps, |v - v_old| exactly eps, ties of the max)
the derivatives are compared on the same ratio and value arrays, since a last-bit
difference in two engines' log-probs can put a sample on opposite sides of a kink.
Finally the port runs as a program on tests/golden and check-port judges its file.

JAX never runs in this process: it starts threads, and other tests fork. The
fixture ``jax_results`` writes every task's inputs to one file and runs
tests/crosscheck_jax.py on them once; the tests compare its results with ppo_ref's.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from ppo_ref.core.agent import grad_norm_order, init_params, policy_mean, value
from ppo_ref.core.distributions import entropy, kl, log_prob, log_prob_grads
from ppo_ref.core.gae import gae
from ppo_ref.core.losses import clipped_surrogate, ppo_loss, value_loss_terms
from ppo_ref.core.optim import adam_init, adam_step, clip_grad_norm
from ppo_ref.port.check import check_port
from ppo_ref.testing import FLOAT64_RTOL, rel_error
from ppo_ref.engines import REFERENCE
from ppo_ref.update import LossOptions, update_with_permutations

from conftest import GOLDEN_DIR

pytestmark = pytest.mark.subprocess

ROOT = pathlib.Path(__file__).parent.parent
PORT_PATH = ROOT / "examples" / "jax_port" / "port.py"
WORKER_PATH = ROOT / "tests" / "crosscheck_jax.py"
GOLDEN = pathlib.Path(GOLDEN_DIR)
JAX_ENV = {**os.environ, "JAX_PLATFORMS": "cpu"}

OBS_DIM, ACT_DIM = 5, 3
LOSS_CASES = [(clip_vloss, norm_adv, ent_coef) for clip_vloss in (True, False) for norm_adv in (True, False)
              for ent_coef in (0.0, 0.01)]
UPDATE_OPTS = {
    "clip_vloss-norm_adv-ent": {"clip_coef": 0.2, "ent_coef": 0.01, "vf_coef": 0.5, "clip_vloss": True,
                                "norm_adv": True},
    "plain": {"clip_coef": 0.2, "ent_coef": 0.0, "vf_coef": 0.5, "clip_vloss": False, "norm_adv": False},
}
UPDATE_BATCH, UPDATE_MINIBATCHES, UPDATE_EPOCHS = 32, 4, 3
GAE_CASES = [(shape, boot) for shape in ((9,), (9, 3)) for boot in (True, False)]


def assert_agree(what, ours, ref):
    """rel_error (the worst error relative to the array's scale) below FLOAT64_RTOL;
    prints the figure (pytest -s shows it)."""
    err = rel_error(np.asarray(ours), np.asarray(ref))
    print(f"{what}: {err:.2e}")
    assert err < FLOAT64_RTOL, f"{what}: relative error {err:.3e}, tolerance FLOAT64_RTOL = {FLOAT64_RTOL:.0e}"
    return err


def make_params(rng):
    params = init_params(rng, OBS_DIM, ACT_DIM)
    for p in params.values():
        p += rng.normal(0.0, 0.05, p.shape)
    params["log_std"] = rng.uniform(-1.0, 0.5, ACT_DIM)
    return params


def make_batch(rng, params, n):
    """A batch whose old log-probs and values are perturbed so that both the ratio
    clip and the value clip are active for some samples."""
    obs = rng.normal(0.0, 1.0, (n, OBS_DIM))
    mu = policy_mean(params, obs)
    actions = mu + np.exp(params["log_std"]) * rng.standard_normal(mu.shape)
    values_old = value(params, obs) + rng.normal(0.0, 0.3, n)
    return {"obs": obs, "actions": actions,
            "logprobs_old": log_prob(actions, mu, params["log_std"]) + rng.normal(0.0, 0.3, n),
            "values_old": values_old, "advantages": rng.normal(0.5, 2.0, n),
            "returns": values_old + rng.normal(0.0, 1.0, n)}


def adam_state(rng, params, t):
    state = adam_init(params)
    for k, p in params.items():
        state["m"][k] += rng.normal(0.0, 1e-3, p.shape)
        state["v"][k] += rng.normal(0.0, 1e-3, p.shape) ** 2 + 1e-8
    state["t"] = t
    return state


def named(prefix, arrays):
    return {f"{prefix}/{k}": np.asarray(a) for k, a in arrays.items()}


def options(opts):
    return {k: np.array(v) for k, v in opts.items()}


# Every task's inputs, drawn from its own seed: (kind, arrays named as the golden cases name them).

def loss_task(clip_vloss, norm_adv, ent_coef):
    rng = np.random.default_rng(100)
    params = make_params(rng)
    opts = {"clip_coef": 0.2, "ent_coef": ent_coef, "vf_coef": 0.5, "clip_vloss": clip_vloss, "norm_adv": norm_adv}
    return "loss", {**named("params", params), **make_batch(rng, params, 16), **options(opts)}


def adam_task():
    rng = np.random.default_rng(101)
    params = make_params(rng)
    grads = {k: rng.normal(0.0, 0.05, p.shape) for k, p in params.items()}
    state = adam_state(rng, params, 9)
    return "adam", {**named("params", params), **named("grads", grads), **named("m", state["m"]),
                    **named("v", state["v"]), "t": np.array(9), "lr": np.array(3e-4), "max_grad_norm": np.array(0.5)}


def update_task(name):
    rng = np.random.default_rng(102)
    params = make_params(rng)
    state = adam_state(rng, params, 24)
    batch = make_batch(rng, params, UPDATE_BATCH)
    perms = np.stack([rng.permutation(UPDATE_BATCH) for _ in range(UPDATE_EPOCHS)])
    return "update", {**named("params", params), **named("m", state["m"]), **named("v", state["v"]),
                      "t": np.array(24), **named("batch", batch), "permutations": perms, "lr": np.array(3e-4),
                      "max_grad_norm": np.array(0.5), "num_minibatches": np.array(UPDATE_MINIBATCHES),
                      "update_epochs": np.array(UPDATE_EPOCHS), **options(UPDATE_OPTS[name])}


def gae_task(shape, bootstrap_truncation):
    rng = np.random.default_rng(103)
    terminated = np.zeros(shape, dtype=bool)
    truncated = np.zeros(shape, dtype=bool)
    terminated[2], truncated[5], terminated[7], truncated[7], truncated[-1] = True, True, True, True, True
    rewards, values, next_values = (rng.normal(0.0, 1.0, shape) for _ in range(3))
    return "gae", {"rewards": rewards, "values": values, "next_values": next_values, "terminated": terminated,
                   "truncated": truncated, "gamma": np.array(0.99), "lam": np.array(0.95),
                   "bootstrap_truncation": np.array(bootstrap_truncation)}


def gaussian_task():
    rng = np.random.default_rng(104)
    mu = rng.normal(0.0, 1.0, (7, ACT_DIM))
    log_std = rng.uniform(-1.0, 0.5, ACT_DIM)
    actions = mu + np.exp(log_std) * rng.normal(0.0, 1.5, mu.shape)
    return "gaussian", {"mu": mu, "log_std": log_std, "actions": actions, "mu_q": mu + rng.normal(0.0, 0.5, mu.shape),
                        "log_std_q": log_std + rng.uniform(-0.5, 0.5, ACT_DIM), "noise": rng.standard_normal(mu.shape)}


SURROGATE_EPS = 0.2
# Exactly at each bound, inside, outside, for advantages of both signs and 0 (with
# A = 0 the two terms of the max tie everywhere).
KINK_RATIO = np.array([1.0 - SURROGATE_EPS, 1.0 + SURROGATE_EPS] * 2 + [1.0, 0.5, 1.5, 0.5, 1.5]
                      + [1.0 - SURROGATE_EPS, 1.0 + SURROGATE_EPS, 1.3])
KINK_ADV = np.array([1.5, 1.5, -2.0, -2.0, 0.7, 1.5, 1.5, -2.0, -2.0, 0.0, 0.0, 0.0])

VALUE_EPS = 0.25  # v - v_old below is exactly +-eps in float64
KINK_VALUES_OLD = np.array([1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 2.0])
KINK_V = np.array([1.25, 0.75, 1.0, 1.0, 1.1, -1.0, 0.25, 2.25])
# Rows 2 and 5: R halfway between v and v_c = v_old +- eps, so (v - R)^2 == (v_c - R)^2,
# a tie of the max outside the clip range. Rows 0, 1, 6, 7: |v - v_old| == eps, so
# v_c == v and the two terms tie at the clip's bound.
KINK_RETURNS = np.array([0.3, 2.0, 0.625, 3.0, 0.2, -0.625, -0.5, 1.0])


def all_tasks():
    tasks = {f"loss-{c}-{n}-{e}": loss_task(c, n, e) for c, n, e in LOSS_CASES}
    tasks["adam"] = adam_task()
    tasks.update({f"update-{name}": update_task(name) for name in UPDATE_OPTS})
    tasks.update({f"gae-{len(shape)}-{boot}": gae_task(shape, boot) for shape, boot in GAE_CASES})
    tasks["gaussian"] = gaussian_task()
    tasks["surrogate_kinks"] = ("surrogate_kinks", {"ratio": KINK_RATIO, "adv": KINK_ADV,
                                                    "clip_coef": np.array(SURROGATE_EPS)})
    for clip_vloss in (True, False):
        tasks[f"value_kinks-{clip_vloss}"] = ("value_kinks", {
            "v": KINK_V, "values_old": KINK_VALUES_OLD, "returns": KINK_RETURNS, "clip_coef": np.array(VALUE_EPS),
            "clip_vloss": np.array(clip_vloss)})
    tasks["jnp_clip"] = ("jnp_clip", {"lo": np.array(0.8), "hi": np.array(1.2), "points": np.array([0.8, 1.2, 1.0])})
    return tasks


@pytest.fixture(scope="module")
def jax_results(tmp_path_factory):
    """``(inputs, results)``: each task's input arrays and the JAX port's results, by task."""
    tasks = all_tasks()
    d = tmp_path_factory.mktemp("crosscheck")
    (d / "tasks.json").write_text(json.dumps({name: kind for name, (kind, _) in tasks.items()}))
    np.savez(d / "inputs.npz", **{f"{name}/{k}": a for name, (_, arrays) in tasks.items() for k, a in arrays.items()})
    proc = subprocess.run([sys.executable, str(WORKER_PATH), str(d / "tasks.json"), str(d / "inputs.npz"),
                           str(d / "outputs.npz")], env=JAX_ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    with np.load(d / "outputs.npz", allow_pickle=False) as npz:
        out = {k: npz[k] for k in npz.files}
    results = {name: {k[len(name) + 1:]: a for k, a in out.items() if k.startswith(name + "/")} for name in tasks}
    return {name: arrays for name, (_, arrays) in tasks.items()}, results


def sub(x, prefix):
    return {k[len(prefix) + 1:]: np.array(a) for k, a in x.items() if k.startswith(prefix + "/")}


# --- SPEC 5: the loss and every gradient ----------------------------------------------

@pytest.mark.parametrize("clip_vloss, norm_adv, ent_coef", LOSS_CASES)
def test_loss_and_every_gradient(jax_results, clip_vloss, norm_adv, ent_coef):
    name = f"loss-{clip_vloss}-{norm_adv}-{ent_coef}"
    x, j = jax_results[0][name], jax_results[1][name]
    params = sub(x, "params")
    loss, grads, info = ppo_loss(params, *(x[k] for k in ("obs", "actions", "logprobs_old", "advantages",
                                                          "returns", "values_old")),
                                 clip_coef=0.2, ent_coef=ent_coef, vf_coef=0.5, clip_vloss=clip_vloss,
                                 norm_adv=norm_adv)
    assert 0.0 < info["clipfrac"] < 1.0  # both sides of the ratio clip are exercised
    assert 0 < np.sum(np.abs(value(params, x["obs"]) - x["values_old"]) > 0.2) < len(x["obs"])  # and the value clip
    assert_agree("loss", j["loss"], loss)
    assert sorted(sub(j, "grads")) == sorted(grads)
    for k in grad_norm_order(params):
        assert_agree(f"grad {k}", j[f"grads/{k}"], grads[k])
    for k in ("pg_loss", "v_loss", "entropy", "approx_kl", "clipfrac"):
        assert_agree(f"info {k}", j[f"info/{k}"], info[k])


# --- SPEC 5: the derivatives at the kinks, on the same arrays -------------------------

def test_surrogate_derivative_at_the_kinks(jax_results):
    j = jax_results[1]["surrogate_kinks"]
    terms, dratio = clipped_surrogate(KINK_RATIO, KINK_ADV, SURROGATE_EPS)
    assert_agree("surrogate at kinks", j["terms"], terms)
    assert_agree("d surrogate / d ratio at kinks", j["dratio"], dratio)
    # At both bounds, the two terms tie and the clip is inside its closed range: -A.
    np.testing.assert_array_equal(j["dratio"][:4], -KINK_ADV[:4])


@pytest.mark.parametrize("clip_vloss", [True, False])
def test_value_loss_derivative_at_the_kinks(jax_results, clip_vloss):
    assert np.abs(np.abs(KINK_V - KINK_VALUES_OLD)[[0, 1, 6, 7]] - VALUE_EPS).max() == 0.0
    j = jax_results[1][f"value_kinks-{clip_vloss}"]
    terms, dv = value_loss_terms(KINK_V, KINK_VALUES_OLD, KINK_RETURNS, VALUE_EPS, clip_vloss)
    assert_agree(f"value terms at kinks (clip_vloss={clip_vloss})", j["terms"], terms)
    assert_agree(f"d value terms / d v at kinks (clip_vloss={clip_vloss})", j["dv"], dv)
    if clip_vloss:
        assert dv[2] == 0.5 * 2.0 * (KINK_V[2] - KINK_RETURNS[2])  # the tie outside the range splits half and half


def test_jnp_clip_derivative_at_a_bound_is_one_half(jax_results):
    """What docs/porting.md §7 states: jnp.clip is maximum then minimum, and
    lax.max/min split ties, so its derivative at a bound is 1/2, not ppo_ref's 1,
    and autodiff of the surrogate written with it gives -0.75 A at ratio == 1 +- eps
    (here A = 2). The port's own clip gives 1; jnp.maximum splits a tie half and half."""
    j = jax_results[1]["jnp_clip"]  # at 0.8 and 1.2 (the bounds) and 1.0
    np.testing.assert_array_equal(j["jnp_clip"], [0.5, 0.5, 1.0])
    np.testing.assert_array_equal(j["port_clip"], [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(j["jnp_surrogate"], [-0.75 * 2.0, -0.75 * 2.0, -2.0])
    np.testing.assert_array_equal(j["maximum_tie"], [0.5, 0.5])


# --- SPEC 6: one clip and Adam step; a whole update -----------------------------------

def test_one_clip_and_adam_step(jax_results):
    x, j = jax_results[0]["adam"], jax_results[1]["adam"]
    params = sub(x, "params")
    state = {"m": sub(x, "m"), "v": sub(x, "v"), "t": int(x["t"])}
    clipped, norm = clip_grad_norm(sub(x, "grads"), 0.5, grad_norm_order(params))
    adam_step(params, clipped, state, 3e-4)
    assert_agree("grad norm", j["grad_norm"], norm)
    assert int(j["t_after"]) == state["t"] == 10
    for k in params:
        assert_agree(f"clipped {k}", j[f"clipped_grads/{k}"], clipped[k])
        assert_agree(f"Adam m {k}", j[f"m_after/{k}"], state["m"][k])
        assert_agree(f"Adam v {k}", j[f"v_after/{k}"], state["v"][k])
        assert_agree(f"Adam params {k}", j[f"params_after/{k}"], params[k])


@pytest.mark.parametrize("name", list(UPDATE_OPTS))
def test_whole_update_with_given_permutations(jax_results, name):
    x, j = jax_results[0][f"update-{name}"], jax_results[1][f"update-{name}"]
    params = sub(x, "params")
    opt = {"m": sub(x, "m"), "v": sub(x, "v"), "t": int(x["t"])}
    info = update_with_permutations(params, opt, sub(x, "batch"), 3e-4, x["permutations"], REFERENCE,
                                    LossOptions(**UPDATE_OPTS[name]), UPDATE_BATCH // UPDATE_MINIBATCHES, 0.5)
    assert int(j["t_after"]) == opt["t"] == 24 + UPDATE_EPOCHS * UPDATE_MINIBATCHES
    for k in params:
        assert_agree(f"update params {k}", j[f"params_after/{k}"], params[k])
        assert_agree(f"update m {k}", j[f"m_after/{k}"], opt["m"][k])
        assert_agree(f"update v {k}", j[f"v_after/{k}"], opt["v"][k])
    for k, v in info.items():
        assert_agree(f"update info {k}", j[f"info/{k}"], v)


# --- SPEC 4: GAE; SPEC 2: the Gaussian -------------------------------------------------

@pytest.mark.parametrize("shape, bootstrap_truncation", GAE_CASES)
def test_gae_with_terminations_and_truncations(jax_results, shape, bootstrap_truncation):
    name = f"gae-{len(shape)}-{bootstrap_truncation}"
    x, j = jax_results[0][name], jax_results[1][name]
    adv, ret = gae(x["rewards"], x["values"], x["next_values"], x["terminated"], x["truncated"], 0.99, 0.95,
                   bootstrap_truncation)
    # SPEC 4's outputs are elementwise IEEE operations in a fixed order: bit for bit.
    np.testing.assert_array_equal(j["advantages"], adv)
    np.testing.assert_array_equal(j["returns"], ret)


def test_gaussian_log_prob_entropy_and_gradients(jax_results):
    x, j = jax_results[0]["gaussian"], jax_results[1]["gaussian"]
    a, mu, log_std = x["actions"], x["mu"], x["log_std"]
    assert_agree("log_prob", j["log_prob"], log_prob(a, mu, log_std))
    assert_agree("entropy", j["entropy"], entropy(log_std))
    dmu, dlog_std = log_prob_grads(a, mu, log_std)
    assert_agree("d log_prob / d mu", j["grad_mu"], dmu)
    assert_agree("d log_prob / d log_std", j["grad_log_std"], dlog_std)
    np.testing.assert_array_equal(j["entropy_grad_log_std"], np.ones(ACT_DIM))
    assert_agree("KL", j["kl"], kl(mu, log_std, x["mu_q"], x["log_std_q"]))
    assert_agree("sample from given noise", j["sample"], mu + np.exp(log_std) * x["noise"])


# --- the worked port as a program, judged by check-port --------------------------------

@pytest.mark.parametrize("float32", [False, True], ids=["float64", "float32"])
def test_example_port_passes_check_port(tmp_path, float32):
    """The port covers every golden case, and check-port passes it: in float64 with
    the default tolerances, and run with --float32 under check-port --float32."""
    out = tmp_path / "outputs.npz"
    proc = subprocess.run([sys.executable, str(PORT_PATH), str(GOLDEN), str(out), *(["--float32"] * float32)],
                          env=JAX_ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    for word in ("GPU", "TPU", "skipped"):  # no accelerator warnings, no case left out
        assert word not in proc.stderr, proc.stderr
    index = json.loads((GOLDEN / "index.json").read_text())
    outputs = sum(a["role"] == "output" for c in index["cases"] for a in c["arrays"])
    assert check_port(str(GOLDEN), str(out), float32=float32) == outputs
    with np.load(out) as npz:
        floats = {npz[k].dtype for k in npz.files if npz[k].dtype.kind == "f" and npz[k].ndim}
    assert floats == {np.dtype(np.float32 if float32 else np.float64)}


def test_jax_stays_out_of_this_process():
    """JAX starts threads, and other tests in this process fork."""
    assert "jax" not in sys.modules
