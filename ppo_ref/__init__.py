"""ppo_ref: Proximal Policy Optimization for continuous control in pure numpy.

- :mod:`ppo_ref.core`    the reference core, the contract in code: read it to port
- :mod:`ppo_ref.fast`    the fast engine: the core's numbers bit for bit, faster
- :mod:`ppo_ref.update`, :mod:`ppo_ref.rollout`, :mod:`ppo_ref.train`   the loop
- :mod:`ppo_ref.envs`    making envs, simulator state, thread-stepped envs
- :mod:`ppo_ref.run`     run directory, checkpoints, logs, reports
- :mod:`ppo_ref.port`    golden vectors, check-port, export to PyTorch
- :mod:`ppo_ref.testing` finite differences and tolerances, for tests and ports
- :mod:`ppo_ref.numerics` portable numerics: the same bits on every x86-64-v3 CPU

Importing ppo_ref pins the numerics before numpy loads (SPEC 8.2), so import it
before numpy, or set PPO_REF_NUMERICS=native to keep the machine's own choice.
"""

from ppo_ref import numerics

numerics.pin()

__version__ = "0.2.0"
