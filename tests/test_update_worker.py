"""``train --update-worker`` as a user meets it: the worker process comes and goes
with the run, leaves no shared memory behind, and a worker that dies stops the
run with one line, the last checkpoint intact. (Its numbers are the fast
engine's: tests/test_engines.py.)"""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from ppo_ref.config import Config, ConfigError, validate
from ppo_ref.fast import split
from ppo_ref.run import checkpoint as ckpt
from ppo_ref.train import train

SMALL = dict(env_id="Hopper-v4", total_timesteps=3 * 256, num_steps=256, num_minibatches=4, update_epochs=2,
             checkpoint_every=1, update_worker=True)


def shared_blocks():
    return {name for name in os.listdir("/dev/shm") if name.startswith("psm_")} if os.path.isdir("/dev/shm") else set()


@pytest.fixture
def workers(monkeypatch):
    """Every UpdateWorker started during the test."""
    started = []
    real_init = split.UpdateWorker.__init__

    def init(self):
        real_init(self)
        started.append(self)
    monkeypatch.setattr(split.UpdateWorker, "__init__", init)
    return started


def test_the_worker_process_and_its_shared_memory_end_with_the_run(tmp_path, workers):
    before = shared_blocks()
    train(Config(run_dir=str(tmp_path / "run"), **SMALL), progress=False, log=lambda s: None)
    assert len(workers) == 1
    assert workers[0]._proc.poll() == 0  # it exited, of its own accord
    assert shared_blocks() == before


def test_a_dead_worker_stops_the_run_in_one_line_and_the_checkpoint_resumes(tmp_path, workers):
    def kill_worker(state):
        if state.iteration == 2:
            os.kill(workers[0]._proc.pid, signal.SIGKILL)

    before = shared_blocks()
    with pytest.raises(split.UpdateWorkerError, match=r"^the update worker process exited \(exit code -9\)$"):
        train(Config(run_dir=str(tmp_path / "run"), **SMALL), progress=False, log=lambda s: None,
              callback=kill_worker)
    assert shared_blocks() == before
    assert int(ckpt.load(tmp_path / "run")["iteration"]) == 2
    resumed = train(resume=str(tmp_path / "run"), progress=False, log=lambda s: None)
    full = train(Config(run_dir=str(tmp_path / "full"), **SMALL), progress=False, log=lambda s: None)
    assert resumed.iteration == 3
    for k in full.params:
        np.testing.assert_array_equal(resumed.params[k], full.params[k], err_msg=k)


def test_the_cli_reports_a_dead_worker_in_one_line(tmp_path):
    """A worker that exits at once (its interpreter replaced by /bin/false)."""
    code = ("import sys, ppo_ref.fast.split as s, ppo_ref.cli as c; s.sys = type('S', (), {'executable': '/bin/false'})"
            "; sys.exit(c.main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", code, "train", "--update-worker", "--env-id", "Hopper-v4",
                           "--total-timesteps", "256", "--num-steps", "256", "--num-minibatches", "4",
                           "--update-epochs", "1", "--run-dir", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines == ["ppo-ref: error: the update worker process exited (exit code 1)"], proc.stderr


def test_the_update_worker_is_a_fast_engine_option():
    with pytest.raises(ConfigError, match="--update-worker is a speed-up of the fast engine"):
        validate(Config(update_worker=True, reference_core=True))


def test_a_run_resumes_with_the_worker_switched_on_bit_for_bit(tmp_path):
    """--update-worker changes no number, so --resume may switch it on (or off)."""
    kw = {**SMALL, "update_worker": False}

    def interrupt(state):
        if state.iteration == 2:
            os.kill(os.getpid(), signal.SIGINT)

    stopped = train(Config(run_dir=str(tmp_path / "part"), **kw), progress=False, log=lambda s: None,
                    callback=interrupt)
    assert stopped.iteration == 2
    resumed = train(resume=str(tmp_path / "part"), how={"update_worker": True}, progress=False, log=lambda s: None)
    full = train(Config(run_dir=str(tmp_path / "full"), **kw), progress=False, log=lambda s: None)
    assert resumed.iteration == 3 and ckpt.state_from_arrays(ckpt.load(tmp_path / "part"))[0].update_worker
    for k in full.params:
        np.testing.assert_array_equal(resumed.params[k], full.params[k], err_msg=k)
    with pytest.raises(ConfigError, match="keeps its saved config but for"):
        train(resume=str(tmp_path / "part"), how={"seed": 5}, progress=False, log=lambda s: None)
