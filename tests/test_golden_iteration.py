"""The golden case ``iteration`` (ppo_ref/port/iteration.py) replays a recorded
training iteration without an env. The independent check: a trace recorded from a
real ``train`` run (tests/iteration_trace.py), replayed through the case's
computation, gives exactly what that run computed in that iteration, every
rollout array, the advantages, the learning rate, the update and the statistics."""

import numpy as np
import pytest

from ppo_ref.port import iteration
from ppo_ref.port.cases import CASES

from conftest import golden_inputs

import iteration_trace


def test_the_committed_trace_ends_episodes_both_ways_in_both_envs():
    x = golden_inputs("iteration")
    terminated, truncated = x["env/terminated"], x["env/truncated"]
    assert (terminated & ~truncated).any(axis=0).all() and (truncated & ~terminated).any(axis=0).all()
    assert truncated[:-1].any()  # a truncation inside the rollout, not only at its end
    done = terminated | truncated
    np.testing.assert_array_equal(x["env/final_obs"][~done], 0.0)
    assert (x["env/final_obs"][done] != 0.0).any(axis=-1).all()
    assert x["t"] > 0 and x["iteration"] > 1 and x["reward_rms/count"] > 1  # a run's state, not a fresh one
    perms = x["permutations"]
    assert (np.abs(x["noise"]) > 0).all() and [sorted(p) for p in perms] == [list(range(perms.shape[1]))] * len(perms)
    assert iteration.TRACE_PATH.endswith(iteration.TRACE) and next(c for c in CASES if c.name == "iteration")


@pytest.mark.env
def test_replaying_a_recorded_iteration_computes_what_train_computed(tmp_path):
    trace, real = iteration_trace.record(tmp_path / "run")
    out = {name: arr for name, arr, _ in iteration.compute({k: v.copy() for k, v in trace.items()})}
    T, N = trace["env/rewards"].shape
    for k in ("obs", "actions", "logprobs_old", "values_old", "next_values", "rewards"):
        np.testing.assert_array_equal(out[f"rollout/{k}"], real["rollout"][k], err_msg=k)
    np.testing.assert_array_equal(out["rollout/actions_sent"], real["sent"])
    assert not np.array_equal(out["rollout/actions_sent"], out["rollout/actions"])  # some actions were clipped
    np.testing.assert_array_equal(out["advantages"].reshape(T * N), real["advantages"])
    np.testing.assert_array_equal(out["returns"].reshape(T * N), real["returns"])
    assert out["lr"] == real["lr"]
    state = real["state"]
    for k, p in state["params"].items():
        np.testing.assert_array_equal(out[f"params_after/{k}"], p, err_msg=k)
        np.testing.assert_array_equal(out[f"m_after/{k}"], state["opt"]["m"][k], err_msg=k)
        np.testing.assert_array_equal(out[f"v_after/{k}"], state["opt"]["v"][k], err_msg=k)
    assert out["t_after"] == state["opt"]["t"]
    for prefix, rms in (("obs_rms_after", state["obs_rms"]), ("reward_rms_after", state["reward_scaler"].rms)):
        for k in ("mean", "var", "count"):
            np.testing.assert_array_equal(out[f"{prefix}/{k}"], getattr(rms, k), err_msg=f"{prefix}/{k}")
    np.testing.assert_array_equal(out["reward_G_after"], state["reward_scaler"].returns)
    for k, v in real["diagnostics"].items():
        assert out[f"info/{k}"] == v, k
