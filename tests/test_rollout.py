"""The rollout (SPEC 2, 4): what the env receives, what the buffer keeps, and the
true next value at episode ends, on a small env whose every number is known."""

import gymnasium as gym
import numpy as np
import pytest

from ppo_ref.core.agent import value
from ppo_ref.config import Config
from ppo_ref.envs.make import make_vector_env
from ppo_ref.engines import REFERENCE
from ppo_ref.fast import FAST
from ppo_ref.core.normalization import normalize_obs, rms_init, rms_update
from ppo_ref.rollout import collect_rollout
from ppo_ref.state import init_state

pytestmark = pytest.mark.env
# Every behaviour below on both engines: the reference core and the fast engine.
ENGINES = pytest.mark.parametrize("engine", [REFERENCE, FAST], ids=["core", "fast"])


class CounterEnv(gym.Env):
    """obs = [t, 10 t]; terminates when t reaches ``terminate_at`` (None: never);
    a TimeLimit of ``max_episode_steps`` truncates. Records the actions it receives."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float64)
    action_space = gym.spaces.Box(-0.5, 0.5, (1,), np.float32)
    received = []

    def __init__(self, terminate_at=None):
        self.terminate_at = terminate_at

    def _obs(self):
        return np.array([self.t, 10.0 * self.t])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        CounterEnv.received.append(np.array(action, dtype=np.float64))
        self.t += 1
        return self._obs(), 1.0, self.t == self.terminate_at, False, {}


@pytest.fixture
def counter_env():
    def register(env_id, **kwargs):
        gym.register(env_id, entry_point=CounterEnv, max_episode_steps=kwargs.pop("max_episode_steps"),
                     kwargs=kwargs)
        ids.append(env_id)
        return env_id

    ids = []
    CounterEnv.received = []
    yield register
    for env_id in ids:
        gym.registry.pop(env_id)


def rollout(env_id, num_steps, engine):
    cfg = Config(env_id=env_id, num_steps=num_steps, num_minibatches=1, total_timesteps=num_steps)
    envs = make_vector_env(env_id, 1)
    try:
        state = init_state(cfg, envs)
        for k in state.params:  # a policy that pushes actions past the bounds
            state.params[k] = state.params[k] + (3.0 if k == "pi.b2" else 0.0)
        buf, episodes = collect_rollout(cfg, envs, state, engine)
    finally:
        envs.close()
    return state, buf, episodes


@ENGINES
def test_truncation_bootstraps_with_the_final_observation(counter_env, engine):
    env_id = counter_env("ppo_ref_tests/Counter-trunc-v0", max_episode_steps=3)
    state, buf, episodes = rollout(env_id, 7, engine)
    trunc = buf["truncated"][:, 0]
    np.testing.assert_array_equal(trunc, [False, False, True, False, False, True, False])
    assert not buf["terminated"].any()
    # At a truncation the next value is V of the final observation [3, 30], not of
    # the reset observation [0, 0] that the next row acts on.
    # Statistics as they stood at that step: merged from the reset observation,
    # [1, 10], [2, 20] and the next episode's reset observation.
    rms = rms_init((2,))
    for seen in ([0.0, 0.0], [1.0, 10.0], [2.0, 20.0], [0.0, 0.0]):
        rms = rms_update(rms, np.array([seen]))
    final = normalize_obs(np.array([[3.0, 30.0]]), rms)
    np.testing.assert_array_equal(buf["next_values"][2, 0], value(state.params, final)[0])
    reset_value = buf["values_old"][3, 0]
    assert buf["next_values"][2, 0] != reset_value
    # Within an episode the next value is the next row's value; after the last step,
    # V of the observation the next rollout starts from.
    np.testing.assert_array_equal(buf["next_values"][[0, 1, 3, 4], 0], buf["values_old"][[1, 2, 4, 5], 0])
    last = value(state.params, normalize_obs(state.next_obs, state.obs_rms))[0]
    np.testing.assert_array_equal(buf["next_values"][6, 0], last)
    assert [(e[1], e[2]) for e in episodes] == [(3.0, 3), (3.0, 3)]


@ENGINES
def test_termination_is_flagged_apart_from_truncation(counter_env, engine):
    env_id = counter_env("ppo_ref_tests/Counter-term-v0", terminate_at=2, max_episode_steps=100)
    _, buf, _ = rollout(env_id, 5, engine)
    np.testing.assert_array_equal(buf["terminated"][:, 0], [False, True, False, True, False])
    assert not buf["truncated"].any()


@ENGINES
def test_env_gets_clipped_actions_and_the_buffer_keeps_the_sampled_ones(counter_env, engine):
    env_id = counter_env("ppo_ref_tests/Counter-clip-v0", max_episode_steps=100)
    _, buf, _ = rollout(env_id, 6, engine)
    sampled = buf["actions"][:, 0, 0]
    received = np.array(CounterEnv.received)[:, 0]
    assert (sampled > 0.5).any()  # the shifted policy does leave the bounds
    np.testing.assert_array_equal(received, np.clip(sampled, -0.5, np.float32(0.5)))
    assert not np.array_equal(received, sampled)


@ENGINES
def test_rewards_are_scaled_as_if_step_by_step(counter_env, engine):
    """The rollout scales rewards after its last step; the result must be that of
    scaling them one step at a time (SPEC 3.3): G_t = r_t + gamma G_{t-1}, the running
    variance of G updated every step, G reset when an episode ends."""
    from ppo_ref.core.normalization import reward_scaler_init, scale_reward

    env_id = counter_env("ppo_ref_tests/Counter-reward-v0", terminate_at=3, max_episode_steps=100)
    state, buf, _ = rollout(env_id, 8, engine)
    scaler = reward_scaler_init(1)
    expected = []
    for t in range(8):  # CounterEnv pays 1.0 every step
        scaled, scaler = scale_reward(scaler, [1.0], buf["terminated"][t], 0.99)
        expected.append(scaled[0])
    assert buf["terminated"][:, 0].sum() == 2
    np.testing.assert_array_equal(buf["rewards"][:, 0], expected)
    np.testing.assert_array_equal(state.reward_scaler.returns, scaler.returns)
    assert state.reward_scaler.rms.var == scaler.rms.var
