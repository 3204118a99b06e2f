"""The command line as a user meets it: one clear line for every mistake, and no
run directory created or damaged by a refused command."""

import os
import subprocess
import sys

import numpy as np
import pytest

from ppo_ref.run import checkpoint as ckpt

pytestmark = pytest.mark.subprocess


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "ppo_ref", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("ppo-ref")
    for frag in fragments:
        assert frag in lines[0]


@pytest.mark.parametrize("flags, fragments", [
    (["--env-id", "Humanoid-v99"], ["Humanoid-v99"]),
    (["--env-id", "CartPole-v1"], ["CartPole-v1", "Discrete", "Box"]),
    (["--num-minibatches", "30"], ["2048", "--num-minibatches (30)", "divisible"]),
    (["--learning-rate", "-0.1"], ["--learning-rate (-0.1)", "> 0"]),
    (["--gamma", "1.5"], ["--gamma (1.5)", "[0, 1]"]),
    (["--num-envs", "0"], ["--num-envs (0)", "positive"]),
    (["--learning-rate", "abc"], ["--learning-rate", "abc"]),
    (["--target-kl", "0"], ["--target-kl (0.0)"]),
    (["--dtype", "float16"], ["--dtype", "float16", "float64", "float32"]),
])
def test_bad_train_flags_are_refused_before_anything_is_written(tmp_path, flags, fragments):
    run_dir = tmp_path / "run"
    proc = run_cli("train", *flags, "--run-dir", str(run_dir))
    assert_one_line_error(proc, *fragments)
    assert not run_dir.exists()


def test_resume_on_a_folder_without_checkpoint(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    proc = run_cli("train", "--resume", str(tmp_path))
    assert_one_line_error(proc, str(tmp_path), "checkpoint.npz")
    assert os.listdir(tmp_path) == ["notes.txt"]
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_resume_refuses_other_flags(tmp_path):
    proc = run_cli("train", "--resume", str(tmp_path), "--seed", "3", "--reference-core")
    assert_one_line_error(proc, "do not also pass --seed (only --async-envs, --thread-envs, --reference-core "
                                "may change")


def test_resume_may_change_where_the_numbers_are_computed(trained_run):
    """Resuming a finished run with --thread-envs: accepted (the run has nothing left to do)."""
    proc = run_cli("train", "--resume", str(trained_run), "--thread-envs", "--no-reference-core")
    assert proc.returncode == 0, proc.stderr


def test_resuming_a_finished_run_says_so_and_touches_nothing(trained_run):
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in trained_run.iterdir()}
    proc = run_cli("train", "--resume", str(trained_run))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{trained_run} finished its 2 iterations (512 steps) already; nothing to resume\n"
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in trained_run.iterdir()} == before


def test_the_update_worker_is_gone_from_the_command_line():
    proc = run_cli("train", "--help")
    assert proc.returncode == 0 and "--update-worker" not in proc.stdout


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    proc = run_cli("train", "--total-timesteps", "512", "--num-steps", "256", "--num-minibatches", "4",
                   "--update-epochs", "1", "--run-dir", str(run_dir))
    assert proc.returncode == 0, proc.stderr
    return run_dir


def test_train_then_eval_and_summary(trained_run):
    proc = run_cli("eval", str(trained_run), "--episodes", "2", "--deterministic")
    assert proc.returncode == 0, proc.stderr
    assert "2 episodes (deterministic): return" in proc.stdout
    proc = run_cli("summary", str(trained_run), "--last", "5")
    assert proc.returncode == 0, proc.stderr
    assert "last 5 training episodes" in proc.stdout and "random policy" in proc.stdout


@pytest.mark.parametrize("seed", ["-1", str(2**63)])
def test_eval_refuses_a_seed_out_of_range(trained_run, seed):
    proc = run_cli("eval", str(trained_run), "--episodes", "1", "--seed", seed)
    assert_one_line_error(proc, f"--seed ({seed})", "[0, 2**63)")


def test_a_float32_run_keeps_float32_through_checkpoint_eval_and_export(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli("train", "--dtype", "float32", "--env-id", "Hopper-v4", "--total-timesteps", "256",
                   "--num-steps", "256", "--num-minibatches", "4", "--update-epochs", "1", "--run-dir", str(run_dir))
    assert proc.returncode == 0, proc.stderr
    arrays = ckpt.load(run_dir)
    assert {arrays[k].dtype for k in arrays if k.startswith(("params/", "adam/m/", "adam/v/"))} == {np.dtype("<f4")}
    assert arrays["obs_rms/mean"].dtype == np.float64
    proc = run_cli("eval", str(run_dir), "--episodes", "1", "--deterministic")
    assert proc.returncode == 0 and "1 episode (deterministic): return" in proc.stdout, proc.stderr


def test_new_run_into_existing_run_is_refused(trained_run):
    before = (trained_run / "checkpoint.npz").read_bytes()
    proc = run_cli("train", "--total-timesteps", "4096", "--run-dir", str(trained_run))
    assert_one_line_error(proc, "--resume")
    assert (trained_run / "checkpoint.npz").read_bytes() == before


def corrupt_variants(good, tmp_path):
    """(name, path, expected message fragment) for checkpoints that must be refused."""
    data = good.read_bytes()
    out = []
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    out.append(("truncated", truncated, "not a ppo_ref checkpoint"))
    text = tmp_path / "text.npz"
    text.write_text("not a checkpoint")
    out.append(("text", text, "not a ppo_ref checkpoint"))
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.zeros(3))
    out.append(("foreign npz", foreign, "not a ppo_ref checkpoint"))
    arrays = dict(ckpt.load(good))
    arrays["format_version"] = np.array(ckpt.FORMAT_VERSION + 1)
    future = tmp_path / "future.npz"
    ckpt.write_npz_atomic(future, arrays)
    out.append(("other format version", future, f"format version {ckpt.FORMAT_VERSION + 1}"))
    arrays = dict(ckpt.load(good))
    arrays["config"] = ckpt.json_array({**ckpt.from_json_array(arrays["config"]), "env_id": "Hopper-v4"})
    other_env = tmp_path / "other_env.npz"
    ckpt.write_npz_atomic(other_env, arrays)
    out.append(("other env", other_env, "Hopper-v4"))
    return out


def test_bad_checkpoints_are_refused_by_eval_and_resume(trained_run, tmp_path):
    for name, path, fragment in corrupt_variants(trained_run / "checkpoint.npz", tmp_path):
        before = path.read_bytes()
        proc = run_cli("eval", str(path), "--episodes", "1")
        assert_one_line_error(proc, fragment)
        proc = run_cli("train", "--resume", str(path))
        assert_one_line_error(proc, fragment)
        assert path.read_bytes() == before, name


def test_files_that_cannot_be_written_are_one_line_errors(trained_run, tmp_path):
    """golden and export-torch into a path whose parent is a file: one line naming
    the path, exit code 2, nothing written."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    proc = run_cli("golden", str(blocker / "vectors"))
    assert_one_line_error(proc, str(blocker))
    proc = run_cli("export-torch", str(trained_run), str(blocker / "agent.npz"))
    assert_one_line_error(proc, str(blocker / "agent.npz"))
    assert ".tmp-" not in proc.stderr  # the file asked for, not its temporary name
    assert blocker.read_text() == "not a directory\n"
