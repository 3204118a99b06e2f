"""Making envs and checking their spaces.

The vector env uses gymnasium's SAME_STEP autoreset: when an episode ends, ``step``
returns the first observation of the next episode and puts the true final
observation in ``info["final_obs"]``, which GAE needs to bootstrap a truncation
with V(final observation) (SPEC 4.1).
"""

import signal
import warnings

import gymnasium as gym
import numpy as np

from ppo_ref.envs.errors import EnvError
from ppo_ref.envs.simstate import SimStateWrapper
from ppo_ref.envs.threads import ThreadVectorEnv


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


def make_env(env_id, **make_kwargs):
    """One env, wrapped for its simulator state and without its info dicts;
    gymnasium's errors become EnvError. ``make_kwargs`` go to ``gym.make``
    (``render_mode``, ``width``, ``height`` for a video)."""
    try:
        with warnings.catch_warnings():
            # ppo_ref's reference task is Humanoid-v4 on purpose (SPEC 7).
            warnings.filterwarnings("ignore", message=".*is out of date", category=DeprecationWarning)
            env = gym.make(env_id, disable_env_checker=True, **make_kwargs)
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
    with make_env(env_id) as env:
        check_spaces(env_id, env.observation_space, env.action_space)
        return env.observation_space, env.action_space

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
