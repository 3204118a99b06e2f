"""ppo-ref sweep on a real local Ray (2 CPUs, one session for the module): a grid
of tiny runs, a failing run beside good ones, a rerun that skips finished runs,
a killed worker whose run is retried from its checkpoint and ends as an
uninterrupted run does, and the one-line message without Ray."""

import os
import signal
import socket
import sys

import numpy as np
import pytest
import ray

from ppo_ref import numerics
from ppo_ref.cli import main
from ppo_ref.config import Config
from ppo_ref.run import checkpoint as ckpt
from ppo_ref.run.layout import find_runs
from ppo_ref.run.sweep import SweepError, parse_seeds, parse_vary, plan, progress_line, sweep
from ppo_ref.train import train

from conftest import quiet

pytestmark = pytest.mark.env

TINY = ["--total-timesteps", "512", "--num-steps", "256", "--num-minibatches", "4", "--update-epochs", "1"]
HOPPER = {"total_timesteps": 1024, "num_steps": 256, "num_minibatches": 4, "update_epochs": 1, "checkpoint_every": 1}


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_seeds_vary_and_the_grid():
    assert parse_seeds("1-3,7") == [1, 2, 3, 7]
    assert parse_seeds("5") == [5]
    for bad in ("3-1", "a", "1-b", "-2"):
        with pytest.raises(SweepError):
            parse_seeds(bad)
    vary = parse_vary(["bootstrap_truncation=true,false", "learning-rate=3e-4,1e-3", "target_kl=none,0.02"])
    assert vary == {"bootstrap_truncation": [True, False], "learning_rate": [3e-4, 1e-3], "target_kl": [None, 0.02]}
    for bad in (["seed=1,2"], ["nope=1"], ["num_envs=x"], ["anneal_lr=maybe"], ["num_envs"]):
        with pytest.raises(SweepError):
            parse_vary(bad)
    runs = plan(["Hopper-v4", "Walker2d-v4"], [1, 2], {"bootstrap_truncation": [True, False]}, {"num_steps": 64})
    assert len(runs) == 8
    name, cfg = runs[1]
    assert name == "Hopper-v4__bootstrap_truncation=true__seed2"
    assert (cfg.env_id, cfg.seed, cfg.bootstrap_truncation, cfg.num_steps) == ("Hopper-v4", 2, True, 64)
    assert plan(["Hopper-v4"], [3])[0][0] == "Hopper-v4__base__seed3"
    line = progress_line({"a": "finished", "b": "failed: x"}, ["c"], 2, {"c": (256, 1)}, {"c": 512})
    assert line == "runs: 1 finished, 1 running, 1 failed, 2 waiting | c 256/512"


def closed_port():
    """A port of this machine on which nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("address, fragment", [
    ("localhost", "--address ('localhost') must be auto or HOST:PORT"),
    ("127.0.0.1:port", "--address ('127.0.0.1:port') must be auto or HOST:PORT"),
    ("127.0.0.1:{closed}", "--address 127.0.0.1:{closed}: no Ray cluster answers there (Connection refused)"),
])
def test_an_address_without_a_cluster_is_one_line_before_anything_is_written(tmp_path, capsys, address, fragment):
    closed = closed_port()
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", "--env-id", "Pendulum-v1", "--out", str(tmp_path / "s"), "--address",
              address.format(closed=closed), *TINY])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment.format(closed=closed) in err, err
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("spec", ["{", "[]", '{"format": "ppo_ref-sweep", "runs": 5}', '{"format": "other"}'])
def test_an_out_whose_sweep_json_is_not_a_sweeps_is_refused_and_kept(tmp_path, capsys, spec):
    out = tmp_path / "s"
    out.mkdir()
    (out / "sweep.json").write_text(spec)
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", "--env-id", "Pendulum-v1", "--out", str(out), *TINY])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{out / 'sweep.json'} is not a ppo_ref sweep's spec" in err, err
    assert (out / "sweep.json").read_text() == spec and os.listdir(out) == ["sweep.json"]


def test_an_out_that_is_a_run_directory_is_refused(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", "--env-id", "Pendulum-v1", "--out", str(tmp_path), *TINY])
    assert exit_.value.code == 2
    assert f"--out {tmp_path} is a run directory" in capsys.readouterr().err
    assert os.listdir(tmp_path) == ["config.json"]


def test_sweep_without_ray_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", "--env-id", "Pendulum-v1", "--out", str(tmp_path / "s")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err == "ppo-ref: error: ppo-ref sweep needs ray: pip install 'ppo_ref[sweep]'\n"


def test_a_grid_with_a_failing_run_then_a_rerun_that_skips_finished_runs(local_ray, tmp_path, capsys):
    out = tmp_path / "sweep"
    code = main(["sweep", "--env-id", "Pendulum-v1", "Nope-v0", "--seeds", "1-2", "--out", str(out), *TINY])
    assert code == 1
    err = sorted(capsys.readouterr().err.splitlines())  # one line per failed run, none for the others
    assert len(err) == 2
    for seed, line in zip((1, 2), err):
        assert line.startswith(f"ppo-ref: Nope-v0__base__seed{seed}: failed: cannot make environment 'Nope-v0'")
    runs = [out / f"Pendulum-v1__base__seed{s}" for s in (1, 2)]
    assert [run.path for run in find_runs([str(out)])] == [str(r) for r in runs]
    for run in runs:
        assert int(ckpt.load(run)["iteration"]) == 2
    assert (out / "sweep.json").is_file()
    mtimes = [os.stat(r / ckpt.CHECKPOINT_NAME).st_mtime_ns for r in runs]

    code = main(["sweep", "--env-id", "Pendulum-v1", "--seeds", "1-2", "--out", str(out), *TINY])
    assert code == 0
    assert "2 runs, 2 finished before, 0 to run" in capsys.readouterr().out
    assert [os.stat(r / ckpt.CHECKPOINT_NAME).st_mtime_ns for r in runs] == mtimes

    assert main(["report", str(out)]) == 0
    assert "| Pendulum-v1 | 2 |" in capsys.readouterr().out


def test_a_run_whose_worker_is_killed_is_retried_from_its_checkpoint(local_ray, tmp_path):
    marker = tmp_path / "killed"

    def kill_once(state):  # in the worker, after iteration 3 is logged and before its checkpoint
        if state.iteration == 3 and not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)

    out = tmp_path / "sweep"
    lines = []
    status = sweep(["Hopper-v4"], [1], str(out), base=HOPPER, log=lines.append, callback=kill_once)
    assert status == {"Hopper-v4__base__seed1": "finished"}, lines
    assert marker.exists()

    alone = train(Config(env_id="Hopper-v4", seed=1, run_dir=str(tmp_path / "alone"), **HOPPER),
                  progress=False, log=quiet)
    arrays = ckpt.load(out / "Hopper-v4__base__seed1")
    assert int(arrays["iteration"]) == 4
    worker = ckpt.from_json_array(arrays["versions"])["numerics"]
    assert worker["numerics"] == numerics.record()["numerics"], worker  # the workers compute as this process does
    for name, value in alone.params.items():
        np.testing.assert_array_equal(arrays[f"params/{name}"], value, err_msg=name)
    metrics = (out / "Hopper-v4__base__seed1" / "metrics.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in metrics[1:]] == ["1", "2", "3", "4"]
