"""Kill a real training process with SIGKILL at random moments and resume it each
time: every resume starts from an intact checkpoint, and the final parameters equal
those of the same run never interrupted, bit for bit (SPEC 8).

``make test`` kills it a few times; ``make soak`` sets PPO_REF_SOAK_KILLS for a
longer run of kills.
"""

import pytest
import os
import signal
import subprocess
import sys
import time

import numpy as np

from ppo_ref.run import checkpoint as ckpt

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]

KILLS = int(os.environ.get("PPO_REF_SOAK_KILLS", "3"))
FLAGS = ["--total-timesteps", "6144", "--num-steps", "128", "--num-minibatches", "4", "--update-epochs", "4",
         "--checkpoint-every", "1", "--seed", "11", "--no-progress"]


def start(run_dir, resume):
    args = ["--resume", str(run_dir)] if resume else [*FLAGS, "--run-dir", str(run_dir)]
    return subprocess.Popen([sys.executable, "-m", "ppo_ref", "train", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def params(run_dir):
    return ckpt.subdict(ckpt.load(run_dir), "params")


def test_sigkill_at_random_moments_then_resume_matches_uninterrupted(tmp_path):
    full = tmp_path / "full"
    proc = start(full, resume=False)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    expected = params(full)

    run = tmp_path / "run"
    rng = np.random.default_rng(0)
    kills = 0
    while kills < KILLS:
        proc = start(run, resume=(run / ckpt.CHECKPOINT_NAME).exists())
        time.sleep(rng.uniform(1.0, 3.0))
        if proc.poll() is not None:  # finished before the kill: start over
            assert proc.returncode == 0, proc.stderr.read()
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        if (run / ckpt.CHECKPOINT_NAME).exists():
            ckpt.load(run)  # intact: loads and passes the format checks
    while True:
        proc = start(run, resume=(run / ckpt.CHECKPOINT_NAME).exists())
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        if int(ckpt.load(run)["iteration"]) == 48:
            break
    got = params(run)
    assert kills >= 1
    for k in expected:
        np.testing.assert_array_equal(got[k], expected[k], err_msg=k)
    assert not [f for f in os.listdir(run) if ".tmp-" in f]
