"""The simulator state that checkpoints carry, so that a resumed run continues its
episodes bit for bit (SPEC 8)."""

import json

import gymnasium as gym
import mujoco
import numpy as np

from ppo_ref.envs.errors import EnvError

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


def get_sim_states(envs):
    """Each env's simulator state, or None if any env cannot expose it."""
    states = envs.get_attr("sim_state")
    return None if any(s is None for s in states) else list(states)


def set_sim_states(envs, states):
    envs.set_attr("sim_state", list(states))
