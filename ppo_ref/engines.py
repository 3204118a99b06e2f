"""The two engines the rollout and the update run on.

:class:`ReferenceEngine` calls the reference core (ppo_ref/core) as a porter reads
it; ppo_ref.fast.FastEngine gives the same numbers faster. Training uses the fast
engine unless ``--reference-core`` asks for the core alone; tests/test_engines.py
trains both ways and compares every parameter, moment, statistic and metric.
"""

import numpy as np

from ppo_ref.core import normalization
from ppo_ref.core.agent import policy_mean, value
from ppo_ref.core.distributions import log_prob, sample
from ppo_ref.core.losses import ppo_loss
from ppo_ref.core.optim import adam_step
from ppo_ref.fast import FastEngine, SplitEngine


class ReferenceEngine:
    name = "reference core"
    value = staticmethod(value)
    rms_update = staticmethod(normalization.rms_update)
    scale_reward = staticmethod(normalization.scale_reward)

    @staticmethod
    def normalize_obs(obs, rms, out=None):
        obs = normalization.normalize_obs(obs, rms)
        if out is None:
            return obs
        out[...] = obs  # rounded to out's dtype
        return out

    @staticmethod
    def policy(params):
        """``act(obs, rng) -> (action, logprob, value)``: SPEC 2's sampling."""
        def act(obs, rng):
            mu = policy_mean(params, obs)
            action = sample(rng, mu, params["log_std"])
            return action, log_prob(action, mu, params["log_std"]), value(params, obs)
        return act

    @staticmethod
    def learner(params, opt):
        return ReferenceLearner(params, opt)


class ReferenceLearner:
    """The update's minibatch steps with core.losses.ppo_loss and core.optim.adam_step
    on the caller's own dicts."""

    def __init__(self, params, opt):
        self.params, self.opt = params, opt

    def loss_and_grads(self, cfg, mb):
        return ppo_loss(self.params, mb["obs"], mb["actions"], mb["logprobs_old"], mb["advantages"], mb["returns"],
                        mb["values_old"], clip_coef=cfg.clip_coef, ent_coef=cfg.ent_coef, vf_coef=cfg.vf_coef,
                        clip_vloss=cfg.clip_vloss, norm_adv=cfg.norm_adv)

    def step(self, grads, scale, lr):
        adam_step(self.params, {k: g * scale for k, g in grads.items()}, self.opt, lr)

    def all_finite(self):
        return all(np.isfinite(p).all() for p in self.params.values())

    def finish(self):
        pass

    def close(self):
        pass


def get_engine(reference_core=False, worker=None):
    """The reference core, the fast engine, or with an update worker
    (ppo_ref.fast.split.UpdateWorker) the fast engine on two processes."""
    if worker is not None:
        return SplitEngine(worker)
    return ReferenceEngine if reference_core else FastEngine
