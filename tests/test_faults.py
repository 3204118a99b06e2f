"""A non-finite observation or reward stops training with a diagnosis, and the
checkpoint on disk stays the last finite one."""

import gymnasium as gym
import numpy as np
import pytest

from ppo_ref.run import checkpoint as ckpt
from ppo_ref.config import Config
from ppo_ref.envs.errors import EnvError
from ppo_ref.envs.make import check_spaces
from ppo_ref.finite import NonFiniteError
from ppo_ref.train import train

from conftest import quiet

pytestmark = pytest.mark.env


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
            train(cfg, progress=False, log=quiet)
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


def fault_in_loss(monkeypatch, after_calls, corrupt):
    """Wrap the training loop's loss so that, from call ``after_calls`` on, its
    result is corrupted by ``corrupt(loss, grads)``."""
    import ppo_ref.fast as fast

    real = fast.loss_into
    calls = {"n": 0}

    def faulty(*args, **kwargs):
        loss, grads, info = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] > after_calls:
            loss, grads = corrupt(loss, grads)
        return loss, grads, info

    monkeypatch.setattr(fast, "loss_into", faulty)


def nan_loss(loss, grads):
    return float("nan"), grads


def inf_gradient(loss, grads):
    grads = dict(grads)
    grads["v.W1"] = grads["v.W1"].copy()
    grads["v.W1"][3, 4] = np.inf
    return loss, grads


def overflowing_gradient(loss, grads):
    """Finite gradients whose global norm overflows to inf."""
    return loss, {k: g * 1e300 for k, g in grads.items()}


@pytest.mark.parametrize("corrupt, message", [
    (nan_loss, "non-finite loss at iteration 3, minibatch 5"),
    (inf_gradient, "non-finite gradient at iteration 3, minibatch 5"),
    (overflowing_gradient, "non-finite gradient at iteration 3, minibatch 5"),
])
def test_non_finite_loss_or_gradient_stops_the_run_with_the_last_good_checkpoint(tmp_path, monkeypatch, corrupt,
                                                                                 message):
    cfg = Config(total_timesteps=4 * 128, num_steps=128, num_minibatches=4, update_epochs=2, checkpoint_every=1,
                 run_dir=str(tmp_path / "run"))
    per_iteration = cfg.num_minibatches * cfg.update_epochs
    fault_in_loss(monkeypatch, 2 * per_iteration + 5, corrupt)
    with pytest.raises(NonFiniteError, match=message):
        train(cfg, progress=False, log=quiet)
    saved = ckpt.load(tmp_path / "run")
    assert int(saved["iteration"]) == 2
    assert all(np.isfinite(a).all() for k, a in saved.items() if a.dtype.kind == "f")


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_non_finite_parameter_stops_the_run_naming_it(tmp_path, monkeypatch):
    """An infinite clipping factor (past the finite-norm check) turns parameters
    into NaN inside Adam; the run names one and stops before writing them."""
    import ppo_ref.update as update_module

    real = update_module.clip_scale
    calls = {"n": 0}

    def faulty(norm, max_norm):
        calls["n"] += 1
        return float("inf") if calls["n"] > 2 * 8 else real(norm, max_norm)

    monkeypatch.setattr(update_module, "clip_scale", faulty)
    cfg = Config(total_timesteps=4 * 128, num_steps=128, num_minibatches=4, update_epochs=2, checkpoint_every=1,
                 run_dir=str(tmp_path / "run"))
    with pytest.raises(NonFiniteError, match=r"non-finite parameter (pi|v)\.\w+ at iteration 3"):
        train(cfg, progress=False, log=quiet)
    saved = ckpt.load(tmp_path / "run")
    assert int(saved["iteration"]) == 2
    assert all(np.isfinite(a).all() for k, a in saved.items() if a.dtype.kind == "f")

