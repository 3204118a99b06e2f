"""The agent's parameters: policy MLP ``pi``, value MLP ``v`` and ``log_std`` (SPEC 1).

``params`` is a plain dict of named float64 arrays:

    pi.W0 (D, 64)  pi.b0 (64,)  pi.W1 (64, 64)  pi.b1 (64,)  pi.W2 (64, A)  pi.b2 (A,)
    v.W0  (D, 64)  v.b0  (64,)  v.W1  (64, 64)  v.b1  (64,)  v.W2  (64, 1)  v.b2  (1,)
    log_std (A,)

Weights are (in, out): ``y = x @ W + b``. The order above is the canonical order
used for initialisation, flattening, checkpoints and golden vectors.
"""

import numpy as np

from ppo_ref.core.mlp import HIDDEN, mlp_forward, mlp_init

HIDDEN_GAIN = float(np.sqrt(2.0))
POLICY_OUTPUT_GAIN = 0.01
VALUE_OUTPUT_GAIN = 1.0


def init_params(rng, obs_dim, act_dim, hidden=HIDDEN):
    """Orthogonal initialisation of SPEC 1, drawn from ``rng``: policy layers first,
    then value layers; ``log_std`` starts at 0."""
    params = {}
    params.update(mlp_init(rng, "pi", (obs_dim, *hidden, act_dim), HIDDEN_GAIN, POLICY_OUTPUT_GAIN))
    params.update(mlp_init(rng, "v", (obs_dim, *hidden, 1), HIDDEN_GAIN, VALUE_OUTPUT_GAIN))
    params["log_std"] = np.zeros(act_dim)
    return params


def param_names(params):
    """Canonical order of the parameter names (pi, then v, then log_std)."""
    return [k for k in params if k.startswith("pi.")] + [k for k in params if k.startswith("v.")] + ["log_std"]


def policy_mean(params, obs):
    """``mu(s)``: (M, D) -> (M, A)."""
    return mlp_forward(params, "pi", obs)[0]


def value(params, obs):
    """``V(s)``: (M, D) -> (M,)."""
    return mlp_forward(params, "v", obs)[0][:, 0]


def joint_first_layer(params):
    """Both networks' first layers side by side, built once per rollout (the
    parameters do not change during one): ``W = [pi.W0 | v.W0]`` (D, 128) and
    ``b = [pi.b0 | v.b0]`` (128,). The two read the same observation, and each
    output column of ``obs @ W`` is the same dot product as in its own network's
    (D, 64) product, so :func:`policy_and_value` returns the same numbers as
    :func:`policy_mean` and :func:`value` with one product instead of two (a test
    checks it bit for bit)."""
    return (np.concatenate([params["pi.W0"], params["v.W0"]], axis=1),
            np.concatenate([params["pi.b0"], params["v.b0"]]))


def policy_and_value(params, first, obs):
    """``(mu(s), V(s))`` for obs (M, D): (M, A) and (M,), with ``first`` from
    :func:`joint_first_layer`; the rest of each network is mlp.py's from layer 1."""
    W0, b0 = first
    width = params["pi.W0"].shape[1]
    h = np.tanh(obs @ W0 + b0)  # (M, 128): both networks' first hidden layers
    mu = mlp_forward(params, "pi", h[:, :width], start=1)[0]
    v = mlp_forward(params, "v", h[:, width:], start=1)[0]
    return mu, v[:, 0]
