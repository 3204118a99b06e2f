"""The fast engine: what in ppo_ref is structurally different and exists only for
speed, over the reference core's own function bodies (called without their
argument checks), so it gives the core's numbers bit for bit
(property_tests/test_fast_properties.py checks each piece, tests/test_engines.py
whole training runs).

- adam.py   Adam over all parameters packed into one buffer
- nets.py   both first layers in one product in the rollout; the backward pass
            writing the gradients into the packed buffer
- loss.py   the PPO loss with its gradients into that buffer
- stats.py  the one-row running-statistics merge

:data:`FAST` implements ppo_ref.engines.Engine.
"""

import numpy as np

from ppo_ref.core import agent, normalization
from ppo_ref.core.distributions import log_prob, sample
from ppo_ref.fast import stats
from ppo_ref.fast.adam import PackedAdam
from ppo_ref.fast.loss import loss_into
from ppo_ref.fast.nets import joint_first_layer, policy_and_value


class FastLearner:
    """The update's minibatch steps on a :class:`PackedAdam`; :meth:`finish` writes
    the parameters and Adam state back into the caller's dicts."""

    def __init__(self, params, opt):
        self._dest = params, opt
        self.adam = PackedAdam(params, opt)
        self.params = self.adam.params

    def loss_and_grads(self, options, mb):
        return loss_into(self.params, mb, options, out=self.adam.grads)

    def step(self, scale, lr):
        self.adam.step(scale, lr)  # the gradients are in the packed buffer

    def all_finite(self):
        return bool(np.isfinite(self.adam.flat).all())

    def finish(self):
        self.adam.unpack(*self._dest)


class FastEngine:
    name = "fast"
    normalize_obs = staticmethod(normalization.normalize_obs.unchecked)
    rms_update = staticmethod(stats.merge)
    scale_reward = staticmethod(normalization.scale_reward.unchecked)
    value = staticmethod(agent.value.unchecked)
    learner = FastLearner

    @staticmethod
    def policy(params):
        """``act(obs, rng) -> (action, logprob, value)`` for one rollout: the joint
        first layer is built once, as the parameters do not change during one."""
        first, log_std = joint_first_layer(params), params["log_std"]

        def act(obs, rng):
            mu, v = policy_and_value(params, first, obs)
            action = sample.unchecked(rng, mu, log_std)
            return action, log_prob.unchecked(action, mu, log_std), v
        return act



FAST = FastEngine()
