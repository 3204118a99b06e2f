"""Environments: making them and checking their spaces (make.py), the MuJoCo
simulator state that checkpoints carry (simstate.py), and a vector env that steps
its envs on threads (threads.py)."""

from ppo_ref.envs.errors import EnvError
from ppo_ref.envs.make import check_spaces, make_env, make_vector_env, probe_spaces
from ppo_ref.envs.simstate import get_sim_states, set_sim_states
from ppo_ref.envs.threads import ThreadVectorEnv

__all__ = ["EnvError", "ThreadVectorEnv", "check_spaces", "get_sim_states", "make_env", "make_vector_env",
           "probe_spaces", "set_sim_states"]
