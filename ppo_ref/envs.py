"""Environments: creation, the Box-space check, and the simulator state that
checkpoints carry so that a resumed run continues its episodes bit for bit (SPEC 8).

The vector env uses gymnasium's SAME_STEP autoreset: when an episode ends, ``step``
returns the first observation of the next episode and puts the true final
observation in ``info["final_obs"]``, which GAE needs to bootstrap a truncation
with V(final observation) (SPEC 4).
"""

import json
import os
import signal
import warnings
from concurrent.futures import ThreadPoolExecutor, wait
from copy import deepcopy

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium.vector.utils import concatenate, iterate


class EnvError(ValueError):
    """The environment cannot be used by ppo_ref; the message says why."""


# mjData arrays that are computed by a step (not part of the integration state)
# but that MuJoCo envs read *before* stepping (positions for velocity rewards,
# contact forces): restoring them makes the first step after a resume identical.
_DERIVED_FIELDS = (
    "xpos", "xquat", "xmat", "xipos", "ximat", "xanchor", "xaxis", "geom_xpos", "geom_xmat",
    "site_xpos", "site_xmat", "subtree_com", "cinert", "cdof", "cvel", "cacc", "cfrc_int",
    "cfrc_ext", "qfrc_actuator", "actuator_force", "sensordata",
)
_STATE_SPEC = mujoco.mjtState.mjSTATE_INTEGRATION


def _find_wrapper(env, cls):
    while isinstance(env, gym.Wrapper):
        if isinstance(env, cls):
            return env
        env = env.env
    return None


class SimStateWrapper(gym.Wrapper):
    """Exposes ``sim_state``: a dict of arrays holding everything needed to continue
    the current episode exactly, or ``None`` when the env is not a MuJoCo env."""

    @property
    def sim_state(self):
        base = self.env.unwrapped
        if not (hasattr(base, "model") and hasattr(base, "data")):
            return None
        model, data = base.model, base.data
        buf = np.empty(mujoco.mj_stateSize(model, _STATE_SPEC))
        mujoco.mj_getState(model, data, buf, _STATE_SPEC)
        state = {"integration": buf}
        for name in _DERIVED_FIELDS:
            state["derived." + name] = np.array(getattr(data, name))
        time_limit = _find_wrapper(self.env, gym.wrappers.TimeLimit)
        state["elapsed_steps"] = np.array(time_limit._elapsed_steps if time_limit else -1)
        state["np_random"] = np.array(json.dumps(base.np_random.bit_generator.state))
        return state

    @sim_state.setter
    def sim_state(self, state):
        base = self.env.unwrapped
        model, data = base.model, base.data
        buf = state["integration"]
        if buf.shape != (mujoco.mj_stateSize(model, _STATE_SPEC),):
            raise EnvError(f"saved simulator state has shape {buf.shape}, this env's has "
                           f"({mujoco.mj_stateSize(model, _STATE_SPEC)},)")
        mujoco.mj_setState(model, data, buf, _STATE_SPEC)
        for name in _DERIVED_FIELDS:
            getattr(data, name)[...] = state["derived." + name]
        time_limit = _find_wrapper(self.env, gym.wrappers.TimeLimit)
        if time_limit is not None:
            time_limit._elapsed_steps = int(state["elapsed_steps"])
        rng = np.random.Generator(np.random.PCG64())
        rng.bit_generator.state = json.loads(str(state["np_random"]))
        base.np_random = rng


class DropInfo(gym.Wrapper):
    """Returns an empty ``info`` from ``reset`` and ``step``. ppo_ref reads no env
    info, and a vector env spends a good part of a step merging the per-env info
    dicts (MuJoCo envs report a dozen reward terms every step), or, with envs in
    subprocesses, pickling them through a pipe. The final observation of an
    episode is put in the vector env's info by the vector env itself."""

    def reset(self, **kwargs):
        obs, _ = self.env.reset(**kwargs)
        return obs, {}

    def step(self, action):
        obs, reward, terminated, truncated, _ = self.env.step(action)
        return obs, reward, terminated, truncated, {}


def make_env(env_id):
    """One env, wrapped for its simulator state and without its info dicts;
    gymnasium's errors become EnvError."""
    try:
        with warnings.catch_warnings():
            # ppo_ref's reference task is Humanoid-v4 on purpose (SPEC 7).
            warnings.filterwarnings("ignore", message=".*is out of date", category=DeprecationWarning)
            env = gym.make(env_id, disable_env_checker=True)
    except gym.error.Error as err:
        raise EnvError(f"cannot make environment {env_id!r}: {err}") from None
    except ImportError as err:
        raise EnvError(f"environment {env_id!r} needs a package that is not installed: {err}") from None
    return DropInfo(SimStateWrapper(env))


def check_spaces(env_id, observation_space, action_space):
    """Refuse anything but a flat Box observation and a bounded Box action space."""
    if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) != 1:
        raise EnvError(f"{env_id} has observation space {observation_space}; ppo_ref needs a 1-D Box")
    if not isinstance(action_space, gym.spaces.Box) or len(action_space.shape) != 1:
        raise EnvError(f"{env_id} has action space {action_space}; ppo_ref needs a 1-D Box (continuous actions)")
    if not (np.isfinite(action_space.low).all() and np.isfinite(action_space.high).all()):
        raise EnvError(f"{env_id} has an unbounded action space {action_space}; ppo_ref clips actions to its bounds")


def probe_spaces(env_id):
    """Make one env to check its spaces before anything else starts."""
    env = make_env(env_id)
    try:
        check_spaces(env_id, env.observation_space, env.action_space)
        return env.observation_space, env.action_space
    finally:
        env.close()


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


def make_vector_env(env_id, num_envs, async_envs=False, thread_envs=False):
    """N copies of ``env_id`` with SAME_STEP autoreset: stepped one after the other
    in this process (the default), in subprocesses (``async_envs``) or on threads
    of this process (``thread_envs``, the same results as the default bit for bit).

    ``copy=False``: ``step`` returns the vector env's own observation buffer, which
    the next ``step`` overwrites; the trainer reads it before stepping again.
    """
    if async_envs and thread_envs:
        raise ValueError("choose subprocess envs or thread envs, not both")
    kwargs = dict(copy=False, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    if async_envs:
        envs = gym.vector.AsyncVectorEnv([lambda: _make_worker_env(env_id)] * num_envs, **kwargs)
    elif thread_envs:
        envs = ThreadVectorEnv([lambda: make_env(env_id)] * num_envs, **kwargs)
    else:
        envs = gym.vector.SyncVectorEnv([lambda: make_env(env_id)] * num_envs, **kwargs)
    check_spaces(env_id, envs.single_observation_space, envs.single_action_space)
    return envs


def _make_worker_env(env_id):
    """In a subprocess: leave Ctrl-C to the trainer, which checkpoints and then
    closes the workers itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return make_env(env_id)


def get_sim_states(envs):
    """Each env's simulator state, or None if any env cannot expose it."""
    states = envs.get_attr("sim_state")
    return None if any(s is None for s in states) else list(states)


def set_sim_states(envs, states):
    envs.set_attr("sim_state", list(states))
