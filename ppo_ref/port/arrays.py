"""The pieces the golden cases are built from: the :class:`Case` record, named
parameter groups and their meanings, and the draws of parameters, Adam moments and
a rollout batch that several cases share.
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ppo_ref.core.agent import init_params, param_names, policy_mean, value
from ppo_ref.core.distributions import log_prob

OBS_DIM, ACT_DIM = 5, 3
LOSS_CONFIG = {"clip_coef": 0.2, "ent_coef": 0.01, "vf_coef": 0.5, "clip_vloss": True, "norm_adv": True}
INFO_MEANINGS = {
    "pg_loss": "policy loss L_pi = mean(max(-A rho, -A clip(rho, 1 - clip_coef, 1 + clip_coef)))",
    "v_loss": "value loss L_v = 0.5 mean(max((v - R)^2, (v_c - R)^2)), v_c = v_old + clip(v - v_old, +-clip_coef)",
    "entropy": "entropy of the policy (the same for every state, so also its mean)",
    "approx_kl": "mean((rho - 1) - log rho)",
    "clipfrac": "mean(|rho - 1| > clip_coef)",
    "grad_norm": "global gradient norm before clipping",
}


@dataclass(frozen=True)
class Case:
    """One golden case: ``make_inputs(rng)`` draws the inputs and ``compute(inputs)``
    runs ppo_ref on them; both return ``[(name, array, meaning), ...]``. ``exact``:
    the contract fixes the outputs bit for bit (elementwise IEEE operations in the
    order docs/spec.md writes them, SPEC 0.2); otherwise they pass through matrix
    products, exp and log, whose last bits depend on the BLAS library and the CPU.
    ``nudgeable``: inputs moved by one ulp are still a case of the same kind (false
    for the kink cases, whose samples sit on kinks an ulp leaves), so the float32
    measurement (port/measure.py) may nudge them. ``float64_in_float32``: the
    outputs (names or name prefixes ending in "/") that a float32 run keeps in
    float64 (SPEC 0.4: the statistics and the reward scaler)."""
    name: str
    seed: int
    description: str
    make_inputs: Callable
    compute: Callable
    exact: bool
    nudgeable: bool = True
    float64_in_float32: tuple = ()

    def keeps_float64(self, name):
        """Whether a float32 run keeps the output ``name`` in float64."""
        return any(name == k or (k.endswith("/") and name.startswith(k)) for k in self.float64_in_float32)


class GivenDraws:
    """A generator whose ``standard_normal`` returns given arrays in order, each of
    the shape asked for: sampling from given noise, the initialisation from given
    draws, a rollout replayed from recorded noise."""

    def __init__(self, draws):
        self.draws = list(draws)

    def standard_normal(self, shape):
        draw = self.draws.pop(0)
        if draw.shape != tuple(shape):
            raise ValueError(f"a draw of shape {tuple(shape)} was asked for; the next given has {draw.shape}")
        return draw.copy()


def f64(x):
    return np.array(x, dtype=np.float64)


def param_meaning(name):
    if name == "log_std":
        return "log standard deviation of the Gaussian policy, (A,)"
    net, part = name.split(".")
    layer = int(part[1:])
    what = "weight (in, out)" if part[0] == "W" else "bias"
    return f"{'policy' if net == 'pi' else 'value'} network, layer {layer} {what}"


def named(prefix, arrays, what, order=param_names):
    """Entries ``prefix/<name>`` for a parameter-shaped dict, in the canonical order
    (or in ``order(arrays)``)."""
    return [(f"{prefix}/{k}", arrays[k], f"{what}: {param_meaning(k)}") for k in order(arrays)]


def sub(inputs, prefix):
    """Copies of the entries ``prefix/<name>`` of a case's arrays, keyed ``<name>``
    (copies, because the computations update parameters and moments in place)."""
    n = len(prefix) + 1
    return {k[n:]: v.copy() for k, v in inputs.items() if k.startswith(prefix + "/")}


def draw_params(rng):
    """SPEC 1's initialisation plus N(0, 0.05^2) noise on every array and a random
    log_std, so no array is 0 and sigma is not 1."""
    params = init_params(rng, OBS_DIM, ACT_DIM)
    for p in params.values():
        p += rng.normal(0.0, 0.05, p.shape)
    params["log_std"] = rng.uniform(-1.0, 0.5, ACT_DIM)
    return params


def draw_adam_state(rng, params):
    """Adam moments as after some earlier steps: m ~ N(0, 1e-3^2), v = m'^2 + 1e-8."""
    m = {k: rng.normal(0.0, 1e-3, p.shape) for k, p in params.items()}
    v = {k: rng.normal(0.0, 1e-3, p.shape) ** 2 + 1e-8 for k, p in params.items()}
    return m, v


def draw_batch(rng, params, n, size):
    """A batch of ``n`` samples as a rollout stores it, with old log-probs and
    values perturbed by N(0, 0.3^2) so that both the ratio and the value clip are
    active; ``size`` names n in the meanings ("M" or "B")."""
    obs = rng.normal(0.0, 1.0, (n, OBS_DIM))
    mu = policy_mean(params, obs)
    actions = mu + np.exp(params["log_std"]) * rng.standard_normal(mu.shape)
    values = value(params, obs) + rng.normal(0.0, 0.3, n)
    return {
        "obs": (obs, f"normalised observations, ({size}, D)"),
        "actions": (actions, f"unclipped sampled actions, ({size}, A)"),
        "logprobs_old": (log_prob(actions, mu, params["log_std"]) + rng.normal(0.0, 0.3, n),
                         f"log-probs of the actions under the policy that collected them, ({size},)"),
        "values_old": (values, f"values V(s) of the policy that collected them, ({size},)"),
        "advantages": (rng.normal(0.5, 2.0, n), f"GAE advantages before normalisation, ({size},)"),
        "returns": (values + rng.normal(0.0, 1.0, n), f"returns R = A + V, ({size},)"),
    }


LOSS_OPTION_MEANINGS = {
    "clip_coef": "loss option (SPEC 5): eps of the ratio clip clip(rho, 1 - eps, 1 + eps), and of the value clip "
                 "v_c = v_old + clip(v - v_old, -eps, eps) when clip_vloss",
    "ent_coef": "loss option (SPEC 5): weight of the entropy bonus, L = L_pi - ent_coef * mean(entropy) + "
                "vf_coef * L_v",
    "vf_coef": "loss option (SPEC 5): weight of the value loss L_v in L",
    "clip_vloss": "loss option (SPEC 5): true: L_v = 0.5 mean(max((v - R)^2, (v_c - R)^2)); false: "
                  "L_v = 0.5 mean((v - R)^2)",
    "norm_adv": "loss option (SPEC 5): true: normalise the advantages of each minibatch, "
                "(A - mean(A)) / (std(A, ddof=1) + 1e-8), as constants; false: use them as given",
}


def loss_options(**changes):
    """The options of :func:`ppo_ref.core.losses.ppo_loss` (LOSS_CONFIG, with
    ``changes``) as 0-d arrays (bool or float64)."""
    return [(k, np.array(v) if isinstance(v, bool) else f64(v), LOSS_OPTION_MEANINGS[k])
            for k, v in {**LOSS_CONFIG, **changes}.items()]


def loss_kwargs(x):
    """The loss's options a case's inputs hold (LOSS_CONFIG's names), as the keywords
    of core.losses.ppo_loss and the fields of update.LossOptions."""
    return {k: x[k].item() for k in LOSS_CONFIG}
