"""The fast engine is the reference core: the same update on the golden cases, and
the same training runs bit for bit, on Humanoid-v4 and on Hopper-v4 with a short
time limit (so that truncations are bootstrapped and reward scalers reset)."""

import csv

import gymnasium as gym
import numpy as np
import pytest

from ppo_ref.config import Config
from ppo_ref.core import distributions
from ppo_ref.core.losses import ppo_loss
from ppo_ref.core.optim import adam_init
from ppo_ref.engines import REFERENCE, ReferenceLearner
from ppo_ref.fast import FAST, FastLearner
from ppo_ref.port.arrays import loss_kwargs, sub
from ppo_ref.train import train
from ppo_ref.update import LossOptions, update_with_permutations

from conftest import assert_same_state, golden_inputs, quiet

pytestmark = pytest.mark.env

SHORT_HOPPER = "ppo_ref_tests/Hopper-limit40-v4"
HOPPER_LIMIT = 40
VARYING_METRICS = ("wall_time", "steps_per_second")


def test_the_golden_loss_case_on_both_engines():
    x = golden_inputs("ppo_loss")
    options = LossOptions(**loss_kwargs(x))
    params = sub(x, "params")
    mb = {k: x[k] for k in ("obs", "actions", "logprobs_old", "advantages", "returns", "values_old")}
    ref = REFERENCE.learner(params, adam_init(params)).loss_and_grads(options, mb)
    fast = FAST.learner(params, adam_init(params)).loss_and_grads(options, mb)
    assert fast[0] == ref[0] and fast[2] == ref[2]
    assert list(fast[1]) == list(ref[1])
    for k in ref[1]:
        np.testing.assert_array_equal(fast[1][k], ref[1][k], err_msg=k)
    np.testing.assert_array_equal(ref[0], ppo_loss(params, x["obs"], x["actions"], x["logprobs_old"],
                                                   x["advantages"], x["returns"], x["values_old"],
                                                   **loss_kwargs(x))[0])


def test_the_golden_update_case_on_both_engines():
    x = golden_inputs("ppo_update")
    perms = x["permutations"]
    settings = {"loss": LossOptions(**loss_kwargs(x)),
                "minibatch_size": perms.shape[1] // int(x["num_minibatches"]),
                "max_grad_norm": float(x["max_grad_norm"])}
    results = []
    for engine in (FAST, REFERENCE):
        params, opt = sub(x, "params"), {"m": sub(x, "m"), "v": sub(x, "v"), "t": int(x["t"])}
        info = update_with_permutations(params, opt, sub(x, "batch"), float(x["lr"]), perms, engine, **settings)
        results.append((params, opt, info))
    (p_fast, o_fast, i_fast), (p_ref, o_ref, i_ref) = results
    assert i_fast == i_ref and o_fast["t"] == o_ref["t"]
    for k in p_ref:
        np.testing.assert_array_equal(p_fast[k], p_ref[k], err_msg=k)
        np.testing.assert_array_equal(o_fast["m"][k], o_ref["m"][k], err_msg=k)
        np.testing.assert_array_equal(o_fast["v"][k], o_ref["v"][k], err_msg=k)


@pytest.fixture
def short_hopper():
    gym.register(SHORT_HOPPER, entry_point="gymnasium.envs.mujoco.hopper_v4:HopperEnv",
                 max_episode_steps=HOPPER_LIMIT)
    yield SHORT_HOPPER
    gym.registry.pop(SHORT_HOPPER)


def _train_both_ways(tmp_path, monkeypatch, **config):
    """The final state, metrics rows and episodes rows of the same 3-iteration run on
    the fast engine and on the reference core (each learner counts its minibatches,
    so a run on the wrong engine fails)."""
    calls = {FastLearner: 0, ReferenceLearner: 0}
    for learner in calls:
        def counted(self, options, mb, real=learner.loss_and_grads, learner=learner):
            calls[learner] += 1
            return real(self, options, mb)
        monkeypatch.setattr(learner, "loss_and_grads", counted)
    runs = []
    for reference_core, learner in ((False, FastLearner), (True, ReferenceLearner)):
        runs.append(_train_and_read(tmp_path / f"reference_core={reference_core}", reference_core=reference_core,
                                    **config))
        assert calls[learner] > 0 and calls[FastLearner if reference_core else ReferenceLearner] == 0
        calls[learner] = 0
    return runs


def _train_and_read(run_dir, **config):
    """``(state, metrics rows without the timing columns, episodes rows)`` of a run."""
    state = train(Config(run_dir=str(run_dir), **config), progress=False, log=quiet)
    with open(run_dir / "metrics.csv", newline="") as f:
        metrics = [{k: v for k, v in row.items() if k not in VARYING_METRICS} for row in csv.DictReader(f)]
    with open(run_dir / "episodes.csv", newline="") as f:
        return state, metrics, list(csv.DictReader(f))


def _assert_identical(fast, ref):
    (s_fast, m_fast, e_fast), (s_ref, m_ref, e_ref) = fast, ref
    assert m_fast == m_ref and len(m_ref) == 3
    assert e_fast == e_ref
    assert_same_state(s_fast, s_ref)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_humanoid_trains_bit_for_bit_alike_on_both_engines(tmp_path, monkeypatch, dtype):
    """The reference configuration (one env, 2048 steps, 10 epochs of 32 minibatches),
    and the same in float32 (the joint first layer's 376 inputs in single precision)."""
    _assert_identical(*_train_both_ways(tmp_path, monkeypatch, env_id="Humanoid-v4", total_timesteps=3 * 2048, seed=3,
                                        dtype=dtype))


def test_hopper_with_truncations_trains_bit_for_bit_alike_on_both_engines(tmp_path, monkeypatch, short_hopper):
    """Three envs, a 40-step time limit, an entropy bonus and target_kl: truncations
    bootstrapped from final observations, multi-row statistics merges, early stops."""
    runs = _train_both_ways(tmp_path, monkeypatch, env_id=short_hopper, num_envs=3, num_steps=256, total_timesteps=3 * 768,
                            num_minibatches=8, ent_coef=0.01, target_kl=0.02, seed=3)
    assert any(int(e["length"]) == HOPPER_LIMIT for e in runs[1][2])  # some episodes were truncated
    _assert_identical(*runs)


def test_float32_trains_bit_for_bit_alike_on_both_engines(tmp_path, monkeypatch, short_hopper):
    """``--dtype float32``: the fast engine and the reference core, both in float32,
    give the same numbers; the parameters, the moments and the update's batch are
    float32, the statistics float64, and the numbers are not float64's."""
    import ppo_ref.train

    batch_dtypes = set()
    real_update = ppo_ref.train.update

    def recording_update(cfg, state, batch, *args):
        batch_dtypes.update(a.dtype for a in batch.values())
        return real_update(cfg, state, batch, *args)
    monkeypatch.setattr(ppo_ref.train, "update", recording_update)
    config = dict(env_id=short_hopper, num_envs=3, num_steps=256, total_timesteps=3 * 768, num_minibatches=8,
                  ent_coef=0.01, target_kl=0.02, seed=3)
    runs = _train_both_ways(tmp_path, monkeypatch, dtype="float32", **config)
    _assert_identical(*runs)
    state, metrics, _ = runs[0]
    assert batch_dtypes == {np.dtype(np.float32)}
    assert {p.dtype for group in (state.params, state.opt["m"], state.opt["v"]) for p in group.values()} == \
        {np.dtype(np.float32)}
    assert state.obs_rms.mean.dtype == state.reward_scaler.rms.var.dtype == np.float64
    float64_metrics = _train_and_read(tmp_path / "float64", **config)[1]
    assert float64_metrics[0]["pg_loss"] != metrics[0]["pg_loss"]
