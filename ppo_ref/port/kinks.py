"""Inputs that put samples of a minibatch exactly on the kinks of the PPO loss
(SPEC 5.3 to 5.5), for the golden cases ppo_loss_kinks and ppo_update_kinks.

Where the loss is not differentiable, the gradient is a convention: the clip's
derivative is 1 on the closed range, bounds included, and a tie of a max splits
half and half (docs/porting.md §7). A port that gets a convention wrong computes
the same loss and, away from the kinks, the same gradients; only a sample exactly
on a kink tells. The rows of a kink minibatch (KINK_ROWS), with eps = KINK_CLIP_COEF:

    0  ratio == 1 - eps, advantage 2                   (the clip's lower bound)
    1  ratio == 1 + eps, advantage -1                  (the upper bound)
    2  ordinary samples
    3
    4  advantage exactly 0
    5  v - v_old == +eps, so v_c == v and the value loss's max ties (the clip's bound)
    6  v - v_old == -eps, the same at the other bound
    7  |v - v_old| > eps and (v - R)^2 == (v_c - R)^2: a tie outside the clip range

Every port must agree on these samples, not only one that reproduces the core's
last bits:

- the value kinks are exact in any precision: the value network's output layer is
  zero with a dyadic bias (:func:`kink_params`), so ``v = KINK_VALUE`` exactly
  however a port multiplies, and ``v_old``, ``R`` and eps are dyadic too, so every
  difference, clip and square of SPEC 5.4 is exact, in float32 as in float64;
- a ratio comes out of exp, whose last bit no two libraries promise to share, so
  only the ratio kinks where the derivative is the same on both sides are used
  (row 0: the unclipped term is the max below 1 - eps, the clip range's derivative
  above; row 1 likewise). A port that lands beside the kink gets the same -A; the
  reference core, whose float64 computation lands on it exactly (the old log-prob
  is searched for that), tells a convention that is wrong there: a strict ``<`` at
  the bound gives -A/2;
- the cases use the advantages as given (norm_adv off: normalising divides by
  std + 1e-8, which no precision keeps exact), and rows 0 and 1 have advantages
  of magnitude a power of 2, so ``-A rho`` and ``-A clip(rho)`` are exact: a ratio
  one ulp outside the range gives two different terms, never a tie made by
  rounding (which would halve the derivative).

tests/test_golden_kinks.py asserts every kink inside core.losses.ppo_loss itself.
"""

import numpy as np

from ppo_ref.core.agent import policy_mean, value
from ppo_ref.core.distributions import LOG_2PI, log_prob

KINK_ROWS = 8
KINK_CLIP_COEF = 0.25
"""Dyadic, so 1 +- eps and every value kink are exact in float32 as in float64."""
KINK_VALUE = 0.375
KINK_ADVANTAGES = np.array([2.0, -1.0, 1.5, 1.25, 0.0, 0.75, 0.5, 0.5])
"""Rows 0 and 1 of magnitude a power of 2; row 4 exactly 0 (used with norm_adv off); the
others positive, so that the policy loss is far from 0 (a mean of terms of both signs
near 0 is all rounding in float32)."""
# Rows 5 to 7: (v_old - v, R - v) in units of eps. Row 5: v - v_old = eps and R below v; row 6: -eps and R
# above (so that beside the kink the unclipped term is the max and the derivative is the kink's); row 7:
# v - v_old = 3 eps, v_c = v - 2 eps, R = v - eps halfway between them.
VALUE_KINKS = {5: (-1.0, -2.0), 6: (1.0, 2.0), 7: (-3.0, -1.0)}
KINK_LOG_STD = (-1.0, -0.8)
"""The range log_std is drawn from in the kink cases (see :func:`kink_minibatch`)."""
KINK_LOG_PROB = -0.75
SEARCH_ULPS = 256


def kink_params(rng, params):
    """``params`` (in place, and returned) for a kink case: log_std drawn from
    KINK_LOG_STD; the value network's output layer zero with bias KINK_VALUE, so
    that every value is exactly KINK_VALUE."""
    params["log_std"] = rng.uniform(*KINK_LOG_STD, params["log_std"].size)
    params["v.W2"][...] = 0.0
    params["v.b2"][...] = KINK_VALUE
    return params


def _nearest_solution(start, holds, what):
    """The float64 nearest ``start`` (``start`` itself, then 1, 2, ... ulps either
    side) for which ``holds(x)``; ``what`` names the kink in the error."""
    down = up = start
    for _ in range(SEARCH_ULPS):
        for x in (up, down):
            if holds(x):
                return x
        up, down = np.nextafter(up, np.inf), np.nextafter(down, -np.inf)
    raise ValueError(f"no float64 within {SEARCH_ULPS} ulps of {start!r} puts {what}")


def kink_minibatch(rng, params, obs, actions, logprobs_old, values_old, returns):
    """Actions, old log-probs, old values, advantages and returns for a minibatch
    of KINK_ROWS rows that puts each row on its kink (the module's table) when the
    loss computes on exactly these observations, with ``params`` from
    :func:`kink_params`; the given arrays (M, ...) supply the ordinary rows.

    Rows 0 and 1 get new actions, whose log-prob is KINK_LOG_PROB: the difference
    of two float64 log-probs in [0.5, 1) is a multiple of 2^-53, fine enough for
    exp to land on 1 - eps and 1 + eps exactly (around log-probs of magnitude 4 or
    more, the grid of differences can step over them). With log_std drawn from
    KINK_LOG_STD, KINK_LOG_PROB is below the density's maximum.
    """
    if obs.shape[0] != KINK_ROWS:
        raise ValueError(f"a kink minibatch has {KINK_ROWS} rows, got obs of shape {obs.shape}")
    eps = KINK_CLIP_COEF
    actions, logprobs_old, values_old, returns = (x.copy() for x in (actions, logprobs_old, values_old, returns))
    mu = policy_mean(params, obs)
    log_std = params["log_std"]
    peak = -np.sum(log_std) - 0.5 * LOG_2PI * log_std.size  # log_prob at a = mu
    if peak <= KINK_LOG_PROB:
        raise ValueError(f"log_std {log_std} puts the density's maximum {peak} below {KINK_LOG_PROB}")
    for i in (0, 1):
        z = rng.standard_normal(log_std.size)
        actions[i] = mu[i] + np.exp(log_std) * z * (np.sqrt(2.0 * (peak - KINK_LOG_PROB)) / np.linalg.norm(z))
    logprob = log_prob(actions, mu, log_std)  # (M,), as ppo_loss computes it

    def ratio_is(i, target):
        def holds(old):
            trial = logprobs_old.copy()
            trial[i] = old
            return np.exp(logprob - trial)[i] == target  # the whole vector, as the loss takes exp
        return holds

    for i, target in ((0, 1.0 - eps), (1, 1.0 + eps)):
        logprobs_old[i] = _nearest_solution(logprob[i] - np.log(target), ratio_is(i, target),
                                            f"ratio {i} exactly on {target!r}")
    v = value(params, obs)
    if not np.all(v == KINK_VALUE):
        raise ValueError(f"the values must all be exactly {KINK_VALUE} (params from kink_params), got {v}")
    for i, (old, ret) in VALUE_KINKS.items():
        values_old[i], returns[i] = KINK_VALUE + old * eps, KINK_VALUE + ret * eps
    return actions, logprobs_old, values_old, KINK_ADVANTAGES.copy(), returns
