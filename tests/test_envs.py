"""The vector envs: what they report, and envs stepped on threads giving the
sequential vector env's results exactly."""

import threading
import time

import gymnasium as gym
import numpy as np
import pytest

from ppo_ref.envs import threads as envs_module
from ppo_ref.envs.make import make_env, make_vector_env
from ppo_ref.envs.threads import ThreadVectorEnv

pytestmark = pytest.mark.env

SAME_STEP = gym.vector.AutoresetMode.SAME_STEP


def test_envs_report_no_info_but_the_final_observation():
    """make_env drops the env's own info dicts (nothing reads them, and merging
    them costs the vector env time every step); the vector env still reports each
    episode's final observation."""
    env = make_env("Hopper-v4")
    try:
        assert env.reset(seed=0)[1] == {}
        assert env.step(env.action_space.sample())[4] == {}
    finally:
        env.close()
    envs = make_vector_env("Hopper-v4", 1)
    try:
        envs.reset(seed=[0])
        for _ in range(1000):
            _, _, terminated, truncated, info = envs.step(np.ones((1, 3)))
            if terminated[0] or truncated[0]:
                break
        assert terminated[0] or truncated[0]
        assert "final_obs" in info and info["final_obs"][0].shape == (11,)
        assert not {"x_position", "reward_ctrl", "x_velocity"} & set(info)
    finally:
        envs.close()


def assert_same_info(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], dict):
            assert_same_info(a[k], b[k])
        else:
            assert a[k].dtype == b[k].dtype, k
            for x, y in zip(a[k], b[k]):  # object arrays of final observations
                np.testing.assert_array_equal(x, y, err_msg=k)


@pytest.mark.parametrize("num_envs, threads", [(3, 2), (4, 2), (5, 3), (2, 1)])
def test_thread_envs_step_exactly_like_sequential_envs(num_envs, threads):
    """Humanoid with a 22-step time limit and random actions, so that episodes end
    by termination and by truncation in every slice; the envs keep their own info
    dicts, so the merged infos (reward terms, final observations and final infos)
    are compared too."""
    def make():
        return gym.make("Humanoid-v4", max_episode_steps=22, disable_env_checker=True)

    seq = gym.vector.SyncVectorEnv([make] * num_envs, autoreset_mode=SAME_STEP)
    par = ThreadVectorEnv([make] * num_envs, threads=threads, autoreset_mode=SAME_STEP)
    try:
        seeds = list(range(10, 10 + num_envs))
        np.testing.assert_array_equal(seq.reset(seed=seeds)[0], par.reset(seed=seeds)[0])
        rng = np.random.default_rng(0)
        ends = {"terminated": 0, "truncated": 0}
        for _ in range(100):
            actions = rng.uniform(-0.4, 0.4, (num_envs, 17))
            a, b = seq.step(actions), par.step(actions)
            for x, y in zip(a[:4], b[:4]):
                assert x.dtype == y.dtype
                np.testing.assert_array_equal(x, y)
            assert_same_info(a[4], b[4])
            ends["terminated"] += a[2].sum()
            ends["truncated"] += a[3].sum()
        assert ends["terminated"] > 0 and ends["truncated"] > 0
    finally:
        seq.close()
        par.close()


class SlowFailingEnv(gym.Env):
    """Sleeps in ``step`` (as MuJoCo does, without the GIL) and raises at a given step."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float64)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, index, fail_at):
        self.index, self.fail_at, self.t, self.stepping = index, fail_at, 0, False

    def reset(self, *, seed=None, options=None):
        return np.zeros(1), {}

    def step(self, action):
        self.stepping = True
        time.sleep(0.02)
        self.t += 1
        self.stepping = False
        if self.t == self.fail_at.get(self.index):
            raise RuntimeError(f"env {self.index} broke")
        return np.full(1, float(self.t)), 0.0, False, False, {}


@pytest.mark.parametrize("fail_at, message", [
    ({2: 1}, "env 2 broke"),          # in a pool thread's slice
    ({0: 1}, "env 0 broke"),          # in this thread's slice
    ({1: 1, 3: 1}, "env 1 broke"),    # in both: the lowest-numbered env, as in sequence
])
def test_thread_envs_raise_an_env_error_once_every_thread_is_done(fail_at, message):
    envs = ThreadVectorEnv([lambda i=i: SlowFailingEnv(i, fail_at) for i in range(4)], threads=2,
                           autoreset_mode=SAME_STEP)
    envs.reset()
    with pytest.raises(RuntimeError, match=message):
        envs.step(np.zeros((4, 1)))
    assert not any(e.stepping for e in envs.envs)
    envs.close()
    assert envs.closed


def test_waiting_for_the_env_threads_survives_ctrl_c(monkeypatch):
    """Ctrl-C while this thread waits for the others: the wait goes on until every
    thread is done with its envs, then the KeyboardInterrupt goes up."""
    done = threading.Event()
    real_wait = envs_module.wait
    calls = []

    def interrupted_wait(futures):
        calls.append(len(futures))
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real_wait(futures)

    monkeypatch.setattr(envs_module, "wait", interrupted_wait)
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(lambda: (time.sleep(0.05), done.set()))
        with pytest.raises(KeyboardInterrupt):
            envs_module.wait_uninterrupted([future])
        assert done.is_set() and future.done()
    assert calls == [1, 1]


def test_thread_envs_need_same_step_autoreset_and_a_positive_thread_count():
    with pytest.raises(ValueError, match="SAME_STEP only"):
        ThreadVectorEnv([lambda: SlowFailingEnv(0, {})], autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP)
    for bad in (0, -2, 1.5):
        with pytest.raises(ValueError, match=f"threads must be a positive integer .* got {bad!r}"):
            ThreadVectorEnv([lambda: SlowFailingEnv(0, {})], threads=bad, autoreset_mode=SAME_STEP)


def test_thread_envs_use_at_most_one_thread_per_env_and_per_core():
    def slices(num_envs, threads=None):
        envs = ThreadVectorEnv([lambda: SlowFailingEnv(0, {})] * num_envs, threads=threads, autoreset_mode=SAME_STEP)
        envs.close()
        return [list(s) for s in envs._slices]

    assert slices(5, threads=2) == [[0, 1], [2, 3, 4]]
    assert slices(2, threads=4) == [[0], [1]]
    assert len(slices(64)) == min(64, envs_module._usable_cores())


def test_subprocess_and_thread_envs_cannot_both_be_asked_for():
    with pytest.raises(ValueError, match="not both"):
        make_vector_env("Hopper-v4", 2, async_envs=True, thread_envs=True)
