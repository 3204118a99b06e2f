"""A non-finite observation or reward stops training with a diagnosis, and the
checkpoint on disk stays the last finite one."""

import gymnasium as gym
import numpy as np
import pytest

from ppo_ref import checkpoint as ckpt
from ppo_ref.config import Config
from ppo_ref.envs import EnvError, check_spaces
from ppo_ref.train import NonFiniteError, train


class BrokenEnv(gym.Env):
    """A 3-d random walk that emits NaN in its observation (or reward) from a given step on."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float64)
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def __init__(self, break_at, where):
        self.break_at, self.where, self.t = break_at, where, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.np_random.standard_normal(3), {}

    def step(self, action):
        self.t += 1
        obs = self.np_random.standard_normal(3)
        reward = float(-np.sum(action ** 2))
        if self.t >= self.break_at:
            if self.where == "obs":
                obs[1] = np.nan
            else:
                reward = np.inf
        return obs, reward, False, self.t % 50 == 0, {}


@pytest.mark.parametrize("where, name", [("obs", "observation"), ("reward", "reward")])
def test_non_finite_input_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, where, name):
    env_id = f"ppo_ref_tests/Broken-{where}-v0"
    gym.register(env_id, entry_point=BrokenEnv, kwargs={"break_at": 290, "where": where})
    try:
        cfg = Config(env_id=env_id, total_timesteps=4 * 128, num_steps=128, num_minibatches=2,
                     update_epochs=1, checkpoint_every=1, run_dir=str(tmp_path / "run"))
        with pytest.raises(NonFiniteError, match=f"non-finite {name} at iteration 3"):
            train(cfg, progress=False, log=lambda s: None)
    finally:
        gym.registry.pop(env_id)
    saved = ckpt.load(tmp_path / "run")
    assert int(saved["iteration"]) == 2
    for key, arr in saved.items():
        if arr.dtype.kind == "f":
            assert np.isfinite(arr).all(), key


def test_discrete_and_unbounded_spaces_are_refused():
    box = gym.spaces.Box(-1.0, 1.0, (2,))
    with pytest.raises(EnvError, match="Discrete"):
        check_spaces("X-v0", box, gym.spaces.Discrete(3))
    with pytest.raises(EnvError, match="unbounded"):
        check_spaces("X-v0", box, gym.spaces.Box(-np.inf, np.inf, (2,)))
    with pytest.raises(EnvError, match="observation space"):
        check_spaces("X-v0", gym.spaces.Box(-1.0, 1.0, (2, 2)), box)
