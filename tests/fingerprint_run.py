"""Train the fingerprint's short runs and print their fingerprint as JSON (run by
tests/test_fingerprint.py in a subprocess, so that each run gets the numerics its
environment asks for: numpy chooses its code paths once, when it loads).

``python tests/fingerprint_run.py WORK_DIR`` prints ``{"fingerprint": ..., "numerics":
..., "episode_ends": ...}``: a SHA-256 over every run's parameters, Adam state,
normaliser statistics, reward scaler and generators, its metrics less the timing
columns and its episodes, in a fixed order.
"""

import ppo_ref  # noqa: F401  (first: the numerics are chosen before numpy loads)

import csv
import hashlib
import json
import os
import sys

import gymnasium as gym
import numpy as np

from ppo_ref import numerics
from ppo_ref.config import Config
from ppo_ref.train import train

SHORT_HOPPER = "ppo_ref_tests/Hopper-limit40-v4"
HOPPER_LIMIT = 40
TIMING = ("wall_time", "steps_per_second")
# 2 iterations of Hopper-v4 with a 40-step limit (truncations and terminations both
# occur, in both envs) and 1 of Humanoid-v4: every part of an iteration, a few seconds.
RUNS = {
    "hopper": dict(env_id=SHORT_HOPPER, num_envs=2, num_steps=128, total_timesteps=512, num_minibatches=4,
                   update_epochs=2, seed=3),
    "humanoid": dict(env_id="Humanoid-v4", num_steps=512, total_timesteps=512, num_minibatches=4, update_epochs=2,
                     seed=1),
}


def _state_arrays(state):
    yield from (("params/" + k, v) for k, v in state.params.items())
    yield from (("adam/m/" + k, v) for k, v in state.opt["m"].items())
    yield from (("adam/v/" + k, v) for k, v in state.opt["v"].items())
    yield "adam/t", np.array(state.opt["t"])
    for name, rms in (("obs_rms", state.obs_rms), ("reward_rms", state.reward_scaler.rms)):
        yield f"{name}/mean", rms.mean
        yield f"{name}/var", rms.var
        yield f"{name}/count", np.array(rms.count)
    yield "reward_scaler/returns", state.reward_scaler.returns
    yield "next_obs", state.next_obs


def _rows(path):
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f)]


def main(work_dir):
    gym.register(SHORT_HOPPER, entry_point="gymnasium.envs.mujoco.hopper_v4:HopperEnv",
                 max_episode_steps=HOPPER_LIMIT)
    digest = hashlib.sha256()
    lengths = []
    for name, config in RUNS.items():
        run_dir = os.path.join(work_dir, name)
        state = train(Config(run_dir=run_dir, **config), progress=False, log=lambda line: None)
        for key, arr in _state_arrays(state):
            arr = np.ascontiguousarray(arr)
            digest.update(f"{name}/{key} {arr.dtype.str} {arr.shape}\n".encode())
            digest.update(arr.tobytes())
        for rng_name in sorted(state.rngs):
            digest.update(json.dumps(state.rngs[rng_name].bit_generator.state, sort_keys=True).encode())
        episodes = _rows(os.path.join(run_dir, "episodes.csv"))
        digest.update(json.dumps([_rows(os.path.join(run_dir, "metrics.csv")), episodes]).encode())
        if name == "hopper":
            lengths = [int(e["length"]) for e in episodes]
    print(json.dumps({"fingerprint": digest.hexdigest(), "numerics": numerics.describe(),
                      "truncated": sum(n == HOPPER_LIMIT for n in lengths),
                      "terminated": sum(n < HOPPER_LIMIT for n in lengths)}))


if __name__ == "__main__":
    main(sys.argv[1])
