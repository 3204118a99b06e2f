"""The agent's parameters: policy MLP ``pi``, value MLP ``v`` and ``log_std`` (SPEC 1).

``params`` is a plain dict of named float64 arrays:

    pi.W0 (D, 64)  pi.b0 (64,)  pi.W1 (64, 64)  pi.b1 (64,)  pi.W2 (64, A)  pi.b2 (A,)
    v.W0  (D, 64)  v.b0  (64,)  v.W1  (64, 64)  v.b1  (64,)  v.W2  (64, 1)  v.b2  (1,)
    log_std (A,)

Weights are (in, out): ``y = x @ W + b``. The order above is the canonical order
used for initialisation, flattening, checkpoints and golden vectors.
"""

import numpy as np

from .mlp import HIDDEN, layer_names, mlp_forward, mlp_init, num_layers

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


def acting_layers(params):
    """The layers of both networks arranged for acting, built once per rollout
    (the parameters do not change during one).

    The two first layers read the same observation, so they sit side by side in
    one (D, 128) weight: ``[pi.W0 | v.W0]``, biases likewise. Each output column is
    the same dot product as in its own network's (D, 64) product, so
    :func:`policy_and_value` returns the same numbers as :func:`policy_mean` and
    :func:`value` in fewer, larger array operations (a test checks it bit for bit).
    Returns ``(W0, b0, width, pi_rest, v_rest)``: ``width`` the policy's share of
    the first layer, ``*_rest`` the (W, b) pairs of the remaining layers.
    """
    first = [layer_names(net, 0) for net in ("pi", "v")]
    W0 = np.concatenate([params[w] for w, _ in first], axis=1)  # (D, 128)
    b0 = np.concatenate([params[b] for _, b in first])  # (128,)
    rest = [[(params[w], params[b]) for w, b in (layer_names(net, i) for i in range(1, num_layers(params, net)))]
            for net in ("pi", "v")]
    return W0, b0, params[first[0][0]].shape[1], rest[0], rest[1]


def policy_and_value(layers, obs):
    """``(mu(s), V(s))`` for obs (M, D): (M, A) and (M,), with ``layers`` from
    :func:`acting_layers`; the MLP of mlp.py, both networks at once."""
    W0, b0, width, pi_rest, v_rest = layers
    h = np.tanh(obs @ W0 + b0)  # (M, 128): both networks' first hidden layers
    out = []
    for x, rest in ((h[:, :width], pi_rest), (h[:, width:], v_rest)):
        for i, (W, b) in enumerate(rest):
            x = x @ W + b
            if i < len(rest) - 1:
                x = np.tanh(x)
        out.append(x)
    return out[0], out[1][:, 0]
