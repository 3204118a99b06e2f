"""One PPO update (SPEC 5, 6): epochs of minibatch steps over a rollout's batch, on
the reference core or the fast engine. Imports no envs, so golden vectors and
ports can replay an update without gymnasium or MuJoCo."""

import numpy as np

from ppo_ref.core.agent import grad_norm_order
from ppo_ref.core.optim import clip_scale, global_grad_norm
from ppo_ref.engines import get_engine
from ppo_ref.finite import NonFiniteError, check_finite

DIAGNOSTICS = ("pg_loss", "v_loss", "entropy", "approx_kl", "clipfrac", "grad_norm")


def update(cfg, state, batch, lr, engine=None):
    """``update_epochs`` passes over the batch in minibatches drawn by permutation:
    each epoch draws ``perm = rng.permutation(B)`` from the minibatch generator,
    lazily, so an early stop on ``target_kl`` draws no permutation it does not use.

    Returns the diagnostics averaged over the minibatches that ran.
    """
    perms = (state.rngs["minibatch"].permutation(cfg.batch_size) for _ in range(cfg.update_epochs))
    return update_with_permutations(cfg, state.params, state.opt, batch, lr, perms, engine)


def update_with_permutations(cfg, params, opt, batch, lr, perms, engine=None):
    """The epochs of :func:`update` with the permutations given by the caller, so a
    port can replay an update without numpy's generator. Updates ``params`` and the
    Adam state ``opt`` in place, on ``engine`` (default: the one ``cfg.reference_core`` chooses).

    batch: obs (B, D), actions (B, A), logprobs_old (B,), values_old (B,), advantages (B,),
    returns (B,). perms: one permutation of range(B) per epoch, e.g. an int array
    (update_epochs, B); epoch e uses minibatches ``perms[e][j*mb:(j+1)*mb]``.
    Returns the diagnostics averaged over the minibatches that ran.
    """
    learner = (engine or get_engine(cfg.reference_core)).learner(params, opt)
    try:
        diagnostics = _epochs(cfg, learner, grad_norm_order(params), batch, lr, perms)
        learner.finish()
    finally:
        learner.close()  # also after an error: the update worker's shared memory goes
    return diagnostics


def _epochs(cfg, learner, order, batch, lr, perms):
    sums = dict.fromkeys(DIAGNOSTICS, 0.0)
    count = 0
    for epoch, perm in enumerate(perms):
        for j, start in enumerate(range(0, cfg.batch_size, cfg.minibatch_size)):
            idx = perm[start:start + cfg.minibatch_size]
            try:
                loss, grads, info = learner.loss_and_grads(cfg, {k: v[idx] for k, v in batch.items()})
                check_finite("loss", loss)
                info["grad_norm"] = norm = global_grad_norm(grads, order)
                check_finite("gradient", norm)
                learner.step(grads, clip_scale(norm, cfg.max_grad_norm), lr)
                if not learner.all_finite():
                    raise NonFiniteError(next(f"parameter {k}" for k, p in learner.params.items()
                                              if not np.isfinite(p).all()))
            except NonFiniteError as err:
                err.where.append(f"minibatch {epoch * cfg.num_minibatches + j}")
                raise
            for k in DIAGNOSTICS:
                sums[k] += info[k]
            count += 1
        if cfg.target_kl is not None and info["approx_kl"] > cfg.target_kl:
            break
    return {k: v / count for k, v in sums.items()}
