"""The fast engine: everything in ppo_ref that exists only for speed, giving the
reference core's numbers bit for bit (property_tests/test_fast_properties.py checks each piece, and
tests/test_engines.py whole training runs).

- nets.py   the networks without argument checks; both first layers in one
            product in the rollout; gradients written into given arrays
- loss.py   the PPO loss (the core's policy and value losses between these
            networks' passes), its gradients into the optimiser's packed buffer
- adam.py   Adam over all parameters packed into one buffer
- stats.py  running statistics with a one-row merge, normalisation into a given
            array, reward scaling, sampling and log-probs without argument checks
- split.py  the update on two cores: each minibatch's value half in a second
            process (``train --update-worker``)

:class:`FastEngine` offers them to the rollout and the update under the same
names as ppo_ref.engines.ReferenceEngine offers the core.
"""

import numpy as np

from ppo_ref.fast import stats
from ppo_ref.fast.adam import PackedAdam
from ppo_ref.fast.loss import ppo_loss
from ppo_ref.fast.nets import joint_first_layer, mlp_forward, policy_and_value
from ppo_ref.fast.split import SplitLearner


class FastEngine:
    name = "fast"
    normalize_obs = staticmethod(stats.normalize_obs)
    rms_update = staticmethod(stats.rms_update)
    scale_reward = staticmethod(stats.scale_reward)

    @staticmethod
    def policy(params):
        """``act(obs, rng) -> (action, logprob, value)`` for one rollout: the joint
        first layer is built once, as the parameters do not change during one."""
        first, log_std = joint_first_layer(params), params["log_std"]

        def act(obs, rng):
            mu, v = policy_and_value(params, first, obs)
            action = stats.sample(rng, mu, log_std)
            return action, stats.log_prob(action, mu, log_std), v
        return act

    @staticmethod
    def value(params, obs):
        return mlp_forward(params, "v", obs)[0][:, 0]

    @staticmethod
    def learner(params, opt):
        return FastLearner(params, opt)


class FastLearner:
    """The update's minibatch steps on a :class:`PackedAdam`; :meth:`finish` writes
    the parameters and Adam state back into the caller's dicts."""

    def __init__(self, params, opt):
        self._dest = params, opt
        self.adam = PackedAdam(params, opt)
        self.params = self.adam.params

    def loss_and_grads(self, cfg, mb):
        return ppo_loss(self.params, mb["obs"], mb["actions"], mb["logprobs_old"], mb["advantages"], mb["returns"],
                        mb["values_old"], cfg.clip_coef, cfg.ent_coef, cfg.vf_coef, cfg.clip_vloss, cfg.norm_adv,
                        out=self.adam.grads)

    def step(self, grads, scale, lr):
        self.adam.step(scale, lr)  # the gradients are already in the packed buffer

    def all_finite(self):
        return bool(np.isfinite(self.adam.flat).all())

    def finish(self):
        self.adam.unpack(*self._dest)

    def close(self):
        pass


class SplitEngine(FastEngine):
    """The fast engine with the update's value half on an update worker
    (fast.split.UpdateWorker): the same numbers on two cores."""

    name = "fast, update on two processes"

    def __init__(self, worker):
        self.worker = worker

    def learner(self, params, opt):
        return SplitLearner(params, opt, self.worker)
