"""What the rollout and the update run on: the :class:`Engine` and :class:`Learner`
interfaces, and the reference core as an engine.

Two engines implement them, with the same numbers bit for bit: :data:`REFERENCE`,
the reference core (ppo_ref/core) called as a porter reads it, and
ppo_ref.fast.FAST. train.engine_for chooses between them (``--reference-core``);
tests/test_engines.py trains both ways and compares every parameter, moment,
statistic and metric.
"""

from typing import Callable, Protocol

import numpy as np

from ppo_ref.core import normalization
from ppo_ref.core.agent import policy_mean, value
from ppo_ref.core.distributions import log_prob, sample
from ppo_ref.core.losses import ppo_loss
from ppo_ref.core.optim import adam_step


class Learner(Protocol):
    """The update's minibatch steps on one set of parameters and Adam state."""

    params: dict  # the parameters as the loss reads them, by name

    def loss_and_grads(self, options, mb) -> tuple:
        """``(loss, grads, info)`` of core.losses.ppo_loss for the minibatch ``mb``
        with the loss's ``options`` (update.LossOptions)."""

    def step(self, scale: float, lr: float) -> None:
        """One Adam step on the last gradients multiplied by ``scale``."""

    def all_finite(self) -> bool:
        """Whether every parameter is finite."""

    def finish(self) -> None:
        """Leave the parameters and Adam state in the dicts the learner was made from."""


class Engine(Protocol):
    """The functions a rollout and an update call (SPEC 2.2, 3, 5, 6)."""

    name: str

    def policy(self, params: dict) -> Callable:
        """``act(obs, rng) -> (action, logprob, value)`` for one rollout."""

    def value(self, params: dict, obs: np.ndarray) -> np.ndarray:
        """``V(s)`` of observations (M, D) -> (M,)."""

    def normalize_obs(self, obs, rms) -> np.ndarray:
        """core.normalization.normalize_obs."""

    def rms_update(self, rms, x):
        """core.normalization.rms_update."""

    def scale_reward(self, scaler, rewards, dones, gamma) -> tuple:
        """core.normalization.scale_reward."""

    def learner(self, params: dict, opt: dict) -> Learner:
        """A learner for the update's minibatch steps on ``params`` and ``opt``."""


class ReferenceLearner:
    """The update's minibatch steps with core.losses.ppo_loss and core.optim.adam_step
    on the caller's own dicts."""

    def __init__(self, params, opt):
        self.params, self.opt, self.grads = params, opt, None

    def loss_and_grads(self, options, mb):
        loss, self.grads, info = ppo_loss(self.params, mb["obs"], mb["actions"], mb["logprobs_old"],
                                          mb["advantages"], mb["returns"], mb["values_old"],
                                          **vars(options))
        return loss, self.grads, info

    def step(self, scale, lr):
        adam_step(self.params, {k: g * scale for k, g in self.grads.items()}, self.opt, lr)

    def all_finite(self):
        return all(np.isfinite(p).all() for p in self.params.values())

    def finish(self):
        pass  # the steps were taken on the caller's dicts


class ReferenceEngine:
    """The reference core, every function with its argument checks."""

    name = "reference core"
    normalize_obs = staticmethod(normalization.normalize_obs)
    rms_update = staticmethod(normalization.rms_update)
    scale_reward = staticmethod(normalization.scale_reward)
    value = staticmethod(value)
    learner = ReferenceLearner

    @staticmethod
    def policy(params):
        """``act(obs, rng) -> (action, logprob, value)``: SPEC 2's sampling."""
        def act(obs, rng):
            mu = policy_mean(params, obs)
            action = sample(rng, mu, params["log_std"])
            return action, log_prob(action, mu, params["log_std"]), value(params, obs)
        return act


REFERENCE = ReferenceEngine()
