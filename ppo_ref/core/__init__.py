"""The reference core: PPO's formulas as plain functions over named arrays, what a
porter reads. In the order of the math:

- checks.py         the argument checks, kept apart from the math: ``f = checked(f, check_f)``
                    under a formula's body runs its check first; ``f.unchecked`` is the body alone
- layers.py         linear and tanh layers (forward/backward pairs), orthogonal init
- mlp.py            the tanh MLP built from them
- agent.py          the policy and value networks, log_std, parameter order
- distributions.py  the diagonal Gaussian: sample, log-prob, entropy, KL
- normalization.py  running statistics, observation and reward scaling
- gae.py            generalised advantage estimation
- losses.py         the PPO loss and its gradient
- optim.py          Adam, gradient-norm clipping, the learning-rate schedule

It imports nothing of ppo_ref outside this folder.
"""
