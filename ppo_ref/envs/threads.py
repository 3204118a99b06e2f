"""A vector env that steps its envs on threads of the training process, with the
results of gymnasium's SyncVectorEnv bit for bit."""

import os
from concurrent.futures import ThreadPoolExecutor, wait
from copy import deepcopy

import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import concatenate, iterate

class ThreadVectorEnv(gym.vector.SyncVectorEnv):
    """A SyncVectorEnv whose ``step`` steps the envs on several threads.

    MuJoCo releases the GIL while it simulates, which is most of a step, so two
    threads step two envs at once on two cores, with no process to wake and no
    pipe to cross. The envs are split into contiguous slices, one per thread; this
    thread steps the first slice while pool threads step the others. Each env is
    stepped exactly as SyncVectorEnv would step it (SAME_STEP autoreset only), and
    the results and infos are gathered in env order afterwards, so the outputs are
    those of SyncVectorEnv bit for bit whatever the thread timing. ``reset``,
    ``call``, ``get_attr`` and ``set_attr`` are SyncVectorEnv's, on this thread.

    ``step`` returns only once every slice is done, also when an env raises (the
    error of the lowest-numbered env is raised, as SyncVectorEnv would) or when
    Ctrl-C interrupts the wait: no thread is left stepping an env that the caller
    then reads, saves or closes.
    """

    def __init__(self, env_fns, threads=None, **kwargs):
        if kwargs.get("autoreset_mode") is not gym.vector.AutoresetMode.SAME_STEP:
            raise ValueError(f"ThreadVectorEnv supports autoreset_mode=SAME_STEP only, "
                             f"got {kwargs.get('autoreset_mode')}")
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be a positive integer (or None for one per core), got {threads!r}")
        super().__init__(env_fns, **kwargs)
        n = len(self.envs)
        threads = min(n, threads or _usable_cores())
        self._slices = [range(k * n // threads, (k + 1) * n // threads) for k in range(threads)]
        self._pool = ThreadPoolExecutor(threads - 1, thread_name_prefix="ppo_ref-env") if threads > 1 else None
        self._results = [None] * n

    def _step_slice(self, indices, actions):
        for i in indices:
            obs, reward, terminated, truncated, info = self.envs[i].step(actions[i])
            final = None
            if terminated or truncated:
                final = obs, info
                obs, info = self.envs[i].reset()
            self._results[i] = obs, reward, terminated, truncated, final, info

    def step(self, actions):
        actions = list(iterate(self.action_space, actions))
        futures = [self._pool.submit(self._step_slice, s, actions) for s in self._slices[1:]]
        try:
            self._step_slice(self._slices[0], actions)
        finally:
            wait_uninterrupted(futures)
        for f in futures:
            f.result()  # raises the first failing slice's error
        infos = {}
        for i, (obs, reward, terminated, truncated, final, info) in enumerate(self._results):
            self._env_obs[i] = obs
            self._rewards[i] = reward
            self._terminations[i] = terminated
            self._truncations[i] = truncated
            if final is not None:
                infos = self._add_info(infos, {"final_obs": final[0], "final_info": final[1]}, i)
            infos = self._add_info(infos, info, i)
        self._observations = concatenate(self.single_observation_space, self._env_obs, self._observations)
        self._autoreset_envs = np.logical_or(self._terminations, self._truncations)
        return (
            deepcopy(self._observations) if self.copy else self._observations,
            np.copy(self._rewards),
            np.copy(self._terminations),
            np.copy(self._truncations),
            infos,
        )

    def close_extras(self, **kwargs):
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        super().close_extras(**kwargs)


def _usable_cores():
    if hasattr(os, "sched_getaffinity"):  # Linux: the cores this process may run on
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def wait_uninterrupted(futures):
    """Wait for every future, even through KeyboardInterrupt (re-raised after)."""
    interrupted = None
    while True:
        try:
            wait(futures)
            break
        except KeyboardInterrupt as err:
            interrupted = err
    if interrupted is not None:
        raise interrupted
