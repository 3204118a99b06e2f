"""One PPO update (SPEC 5, 6): epochs of minibatch steps over a rollout's batch, on
the engine it is given. Imports no envs and no training configuration, so golden
vectors and ports can replay an update with its own arguments alone."""

import dataclasses
from dataclasses import dataclass

import numpy as np

from ppo_ref.core.agent import grad_norm_order
from ppo_ref.core.optim import clip_scale, global_grad_norm, linear_lr
from ppo_ref.finite import NonFiniteError, check_finite

DIAGNOSTICS = ("pg_loss", "v_loss", "entropy", "approx_kl", "clipfrac", "grad_norm")


@dataclass(frozen=True)
class LossOptions:
    """The options of core.losses.ppo_loss (SPEC 5), the same names as its arguments;
    no defaults of their own (ppo_loss's and Config's are the reference ones)."""
    clip_coef: float
    ent_coef: float
    vf_coef: float
    clip_vloss: bool
    norm_adv: bool


def learning_rate(iteration, num_iterations, lr0, anneal):
    """The learning rate of iteration ``iteration`` (1..K, SPEC 6.3): annealed,
    ``core.optim.linear_lr``; otherwise ``lr0`` throughout."""
    return linear_lr(iteration, num_iterations, lr0) if anneal else lr0


def batch_of(rollout, advantages, returns):
    """The rollout's (T, N, ...) arrays the update reads, with the advantages and
    returns, flattened to (B, ...), B = T * N, row t * N + n for step t of env n;
    the rollout's log-probs and values are the "old" ones the loss compares with."""
    B = advantages.size
    return {
        "obs": rollout["obs"].reshape(B, -1),
        "actions": rollout["actions"].reshape(B, -1),
        "logprobs_old": rollout["logprobs_old"].reshape(B),
        "values_old": rollout["values_old"].reshape(B),
        "advantages": advantages.reshape(B),
        "returns": returns.reshape(B),
    }


def settings_of(cfg):
    """The arguments of :func:`update_with_permutations` a training Config sets,
    by name: the loss's options and the update's geometry."""
    loss = LossOptions(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(LossOptions)})
    return {"loss": loss, "minibatch_size": cfg.minibatch_size, "max_grad_norm": cfg.max_grad_norm,
            "target_kl": cfg.target_kl}


def update(cfg, state, batch, lr, engine):
    """``update_epochs`` passes over the batch in minibatches drawn by permutation:
    each epoch draws ``perm = rng.permutation(B)`` from the minibatch generator,
    lazily, so an early stop on ``target_kl`` draws no permutation it does not use.

    Returns the diagnostics averaged over the minibatches that ran.
    """
    perms = (state.rngs["minibatch"].permutation(cfg.batch_size) for _ in range(cfg.update_epochs))
    return update_with_permutations(state.params, state.opt, batch, lr, perms, engine, **settings_of(cfg))


def update_with_permutations(params, opt, batch, lr, perms, engine, loss, minibatch_size, max_grad_norm,
                             target_kl=None):
    """The epochs of :func:`update` with the permutations given by the caller, so a
    port can replay an update without numpy's generator. Updates ``params`` and the
    Adam state ``opt`` in place, on ``engine`` (ppo_ref.engines.Engine), with the
    loss's options ``loss`` (:class:`LossOptions`).

    batch: obs (B, D), actions (B, A), logprobs_old (B,), values_old (B,), advantages (B,),
    returns (B,). perms: one permutation of range(B) per epoch, e.g. an int array
    (epochs, B); epoch e uses minibatches ``perms[e][j*mb:(j+1)*mb]``, mb =
    ``minibatch_size``. Each minibatch's gradient is clipped to a global norm of
    ``max_grad_norm``; with ``target_kl``, the epochs stop after the first whose
    last minibatch has approx_kl above it.
    Returns the diagnostics averaged over the minibatches that ran.
    """
    learner = engine.learner(params, opt)
    order = grad_norm_order(params)
    sums = dict.fromkeys(DIAGNOSTICS, 0.0)
    count = 0
    for perm in perms:
        for start in range(0, len(perm), minibatch_size):
            idx = perm[start:start + minibatch_size]
            try:
                loss_value, grads, info = learner.loss_and_grads(loss, {k: v[idx] for k, v in batch.items()})
                check_finite("loss", loss_value)
                info["grad_norm"] = norm = global_grad_norm(grads, order)
                check_finite("gradient", norm)
                learner.step(clip_scale(norm, max_grad_norm), lr)
                if not learner.all_finite():
                    raise NonFiniteError(next(f"parameter {k}" for k, p in learner.params.items()
                                              if not np.isfinite(p).all()))
            except NonFiniteError as err:
                err.where.append(f"minibatch {count}")
                raise
            for k in DIAGNOSTICS:
                sums[k] += info[k]
            count += 1
        if target_kl is not None and info["approx_kl"] > target_kl:
            break
    learner.finish()
    return {k: v / count for k, v in sums.items()}
