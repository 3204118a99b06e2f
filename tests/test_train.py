"""The training loop: determinism, resume, Ctrl-C, run files (SPEC 8).

Small Humanoid-v4 runs (a few iterations of 256 steps) so the whole file takes
seconds; the learning itself is checked by test_regression.py.
"""

import csv
import os
import signal

import numpy as np
import pytest

from ppo_ref.run import checkpoint as ckpt
from ppo_ref.config import Config
from ppo_ref.train import train

from conftest import assert_same_state, quiet

pytestmark = pytest.mark.env

SMALL = dict(total_timesteps=4 * 256, num_steps=256, num_minibatches=4, update_epochs=2, checkpoint_every=1)


def small_cfg(tmp_path, name, **kw):
    return Config(**{**SMALL, "run_dir": str(tmp_path / name), **kw})


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_same_seed_gives_bit_identical_parameters(tmp_path):
    a = train(small_cfg(tmp_path, "a", seed=3), progress=False, log=quiet)
    b = train(small_cfg(tmp_path, "b", seed=3), progress=False, log=quiet)
    c = train(small_cfg(tmp_path, "c", seed=4), progress=False, log=quiet)
    assert_same_state(a, b)
    assert not np.array_equal(a.params["pi.W0"], c.params["pi.W0"])
    assert read_rows(tmp_path / "a" / "episodes.csv") == read_rows(tmp_path / "b" / "episodes.csv")


def test_thread_envs_train_exactly_like_sequential_envs(tmp_path):
    """--thread-envs changes where the envs are stepped, not a single number."""
    kw = dict(seed=5, num_envs=3, num_steps=128, total_timesteps=3 * 3 * 128)
    seq = train(small_cfg(tmp_path, "seq", **kw), progress=False, log=quiet)
    par = train(small_cfg(tmp_path, "par", thread_envs=True, **kw), progress=False, log=quiet)
    assert_same_state(seq, par)
    assert read_rows(tmp_path / "seq" / "episodes.csv") == read_rows(tmp_path / "par" / "episodes.csv")
    seq_metrics = [r[:2] + r[4:] for r in read_rows(tmp_path / "seq" / "metrics.csv")]
    assert seq_metrics == [r[:2] + r[4:] for r in read_rows(tmp_path / "par" / "metrics.csv")]


@pytest.mark.parametrize("num_envs, envs_in, signum, dtype", [
    (1, "sequence", signal.SIGINT, "float64"), (2, "sequence", signal.SIGTERM, "float64"),
    (2, "subprocesses", signal.SIGINT, "float64"), (3, "threads", signal.SIGINT, "float64"),
    (2, "sequence", signal.SIGINT, "float32"),
])
def test_resume_after_ctrl_c_matches_uninterrupted_run(tmp_path, num_envs, envs_in, signum, dtype):
    """Ctrl-C (or SIGTERM) during iteration 2 checkpoints and stops; resuming gives
    the same parameters, episodes and metrics rows as the run never stopped, with
    the envs stepped in sequence, in subprocesses or on threads, in float64 or float32."""
    kw = dict(seed=7, num_envs=num_envs, async_envs=envs_in == "subprocesses", thread_envs=envs_in == "threads",
              num_steps=128, total_timesteps=4 * 128 * num_envs, dtype=dtype)
    full = train(small_cfg(tmp_path, "full", **kw), progress=False, log=quiet)

    def interrupt(state):
        if state.iteration == 2:
            os.kill(os.getpid(), signum)

    messages = []
    stopped = train(small_cfg(tmp_path, "part", **kw), progress=False, log=messages.append, callback=interrupt)
    assert stopped.iteration == 2
    assert "--resume" in messages[-1] and signal.Signals(signum).name in messages[-1]
    saved = ckpt.load(tmp_path / "part")
    assert int(saved["iteration"]) == 2

    resumed = train(resume=str(tmp_path / "part"), progress=False, log=quiet)
    assert resumed.iteration == full.iteration == 4
    assert_same_state(full, resumed)
    assert {p.dtype for p in [*resumed.params.values(), *resumed.opt["v"].values()]} == {np.dtype(dtype)}
    assert read_rows(tmp_path / "full" / "episodes.csv") == read_rows(tmp_path / "part" / "episodes.csv")
    full_metrics = [r[:2] + r[4:7] for r in read_rows(tmp_path / "full" / "metrics.csv")]
    part_metrics = [r[:2] + r[4:7] for r in read_rows(tmp_path / "part" / "metrics.csv")]
    assert full_metrics == part_metrics


def test_resume_after_a_crash_drops_rows_written_after_the_checkpoint(tmp_path):
    """A crash after iteration 3 was logged, with the last checkpoint at iteration 2:
    the resumed run rewrites iteration 3 once and matches the uninterrupted run."""
    full = train(small_cfg(tmp_path, "full", seed=2, checkpoint_every=2), progress=False, log=quiet)

    def crash(state):
        if state.iteration == 3:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        train(small_cfg(tmp_path, "run", seed=2, checkpoint_every=2), progress=False, log=quiet,
              callback=crash)
    assert int(ckpt.load(tmp_path / "run")["iteration"]) == 2
    assert [r[0] for r in read_rows(tmp_path / "run" / "metrics.csv")[1:]] == ["1", "2", "3"]

    resumed = train(resume=str(tmp_path / "run"), progress=False, log=quiet)
    assert_same_state(full, resumed)
    assert [r[0] for r in read_rows(tmp_path / "run" / "metrics.csv")[1:]] == ["1", "2", "3", "4"]
    assert read_rows(tmp_path / "full" / "episodes.csv") == read_rows(tmp_path / "run" / "episodes.csv")


def test_run_directory_files(tmp_path):
    train(small_cfg(tmp_path, "run"), progress=False, log=quiet)
    run = tmp_path / "run"
    assert sorted(os.listdir(run)) == ["checkpoint.npz", "config.json", "episodes.csv", "metrics.csv"]
    metrics = read_rows(run / "metrics.csv")
    assert len(metrics) == 1 + 4
    assert metrics[0][:3] == ["iteration", "global_step", "wall_time"]
    assert [int(r[1]) for r in metrics[1:]] == [256, 512, 768, 1024]
    episodes = read_rows(run / "episodes.csv")
    assert episodes[0] == ["global_step", "return", "length"]
    assert len(episodes) > 1
    arrays = ckpt.load(run)
    assert int(arrays["global_step"]) == 1024
    assert {"params/pi.W0", "adam/m/v.b2", "obs_rms/mean", "ret_rms/var", "rng/policy", "envs/0/integration"} <= set(arrays)


def test_new_run_refuses_a_directory_that_holds_a_run(tmp_path):
    cfg = small_cfg(tmp_path, "run", total_timesteps=256)
    train(cfg, progress=False, log=quiet)
    before = (tmp_path / "run" / "checkpoint.npz").read_bytes()
    with pytest.raises(FileExistsError, match="--resume"):
        train(cfg, progress=False, log=quiet)
    assert (tmp_path / "run" / "checkpoint.npz").read_bytes() == before
