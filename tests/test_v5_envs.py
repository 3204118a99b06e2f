"""Every Gymnasium v5 MuJoCo env trains, and resumes from a checkpoint bit for bit:
the simulator state in the checkpoint (ppo_ref/envs/simstate.py) continues each
episode exactly where it stopped. Tiny runs, three iterations of 64 steps."""

import csv

import numpy as np
import pytest

from ppo_ref.config import Config
from ppo_ref.run import checkpoint as ckpt
from ppo_ref.train import train

from conftest import assert_same_state, quiet

pytestmark = pytest.mark.env

V5_ENVS = ("Ant-v5", "HalfCheetah-v5", "Hopper-v5", "Humanoid-v5", "HumanoidStandup-v5",
           "InvertedDoublePendulum-v5", "InvertedPendulum-v5", "Pusher-v5", "Reacher-v5", "Swimmer-v5",
           "Walker2d-v5")


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


@pytest.mark.parametrize("env_id", V5_ENVS)
def test_v5_env_trains_and_resumes_bit_for_bit(tmp_path, env_id):
    """A crash during iteration 3 (its checkpoint not yet written, the last one at
    iteration 2, mid-episode): the resumed run ends with the same parameters,
    episodes and losses as the run that never stopped."""
    def cfg(name):
        return Config(env_id=env_id, seed=3, num_envs=2, num_steps=32, total_timesteps=4 * 64, num_minibatches=2,
                      update_epochs=1, checkpoint_every=2, run_dir=str(tmp_path / name))

    full = train(cfg("full"), progress=False, log=quiet)

    def crash(state):
        if state.iteration == 3:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        train(cfg("part"), progress=False, log=quiet, callback=crash)
    assert int(ckpt.load(tmp_path / "part")["iteration"]) == 2
    assert bool(ckpt.load(tmp_path / "part")["envs/has_sim_state"])
    resumed = train(resume=str(tmp_path / "part"), progress=False, log=quiet)

    assert resumed.iteration == full.iteration == 4
    assert_same_state(full, resumed)
    assert read_rows(tmp_path / "full" / "episodes.csv") == read_rows(tmp_path / "part" / "episodes.csv")
    full_metrics = [r[:2] + r[4:] for r in read_rows(tmp_path / "full" / "metrics.csv")]
    assert full_metrics == [r[:2] + r[4:] for r in read_rows(tmp_path / "part" / "metrics.csv")]
