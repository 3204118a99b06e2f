"""ppo_ref: Proximal Policy Optimization for continuous control in pure numpy.

Every numerical piece is a small module of functions over plain arrays:

- :mod:`ppo_ref.core.layers`         Linear and tanh layers, orthogonal initialisation
- :mod:`ppo_ref.core.mlp`            the two-hidden-layer tanh MLP built from them
- :mod:`ppo_ref.core.agent`          policy and value parameters, rollout forward pass
- :mod:`ppo_ref.core.distributions`  diagonal Gaussian: sample, log-prob, entropy, KL
- :mod:`ppo_ref.core.gae`            generalised advantage estimation
- :mod:`ppo_ref.core.losses`         the PPO loss and its gradient
- :mod:`ppo_ref.core.optim`          Adam, gradient-norm clipping, learning-rate schedule
- :mod:`ppo_ref.core.normalization`  running mean/variance, observation and reward scaling
- :mod:`ppo_ref.testing`        finite differences and tolerances, for tests and ports
"""

__version__ = "0.1.0"
