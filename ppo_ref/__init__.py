"""ppo_ref: Proximal Policy Optimization for continuous control in pure numpy.

- :mod:`ppo_ref.core`    the reference core, the contract in code: read it to port
- :mod:`ppo_ref.fast`    the fast engine: the core's numbers bit for bit, faster
- :mod:`ppo_ref.update`, :mod:`ppo_ref.rollout`, :mod:`ppo_ref.train`   the loop
- :mod:`ppo_ref.envs`    making envs, simulator state, thread-stepped envs
- :mod:`ppo_ref.run`     run directory, checkpoints, logs, reports
- :mod:`ppo_ref.port`    golden vectors, check-port, export to PyTorch
- :mod:`ppo_ref.testing` finite differences and tolerances, for tests and ports
"""

__version__ = "0.1.0"
