"""The agent's parameters: policy MLP ``pi``, value MLP ``v`` and ``log_std`` (SPEC 1).

``params`` is a plain dict of named float64 arrays (float32 with --dtype float32, SPEC 0.4):

    pi.W0 (D, 64)  pi.b0 (64,)  pi.W1 (64, 64)  pi.b1 (64,)  pi.W2 (64, A)  pi.b2 (A,)
    v.W0  (D, 64)  v.b0  (64,)  v.W1  (64, 64)  v.b1  (64,)  v.W2  (64, 1)  v.b2  (1,)
    log_std (A,)

Weights are (in, out): ``y = x @ W + b``. The order above is the canonical order
used for initialisation, checkpoints and golden vectors (:func:`param_names`).
"""

import numpy as np

from .checks import check_policy_mean, check_value, checked
from .mlp import HIDDEN, layer_names, mlp_forward, mlp_init, num_layers

HIDDEN_GAIN = float(np.sqrt(2.0))
POLICY_OUTPUT_GAIN = 0.01
VALUE_OUTPUT_GAIN = 1.0
NETWORKS = ("pi", "v")


def init_params(rng, obs_dim, act_dim, hidden=HIDDEN):
    """Orthogonal initialisation of SPEC 1.4, drawn from ``rng``: policy layers first,
    then value layers; ``log_std`` starts at 0."""
    params = {}
    params.update(mlp_init(rng, "pi", (obs_dim, *hidden, act_dim), HIDDEN_GAIN, POLICY_OUTPUT_GAIN))
    params.update(mlp_init(rng, "v", (obs_dim, *hidden, 1), HIDDEN_GAIN, VALUE_OUTPUT_GAIN))
    params["log_std"] = np.zeros(act_dim)
    return params


def param_names(params):
    """The canonical order: pi.W0, pi.b0, ... pi.b2, v.W0, ... v.b2, log_std."""
    return [name for net in NETWORKS for i in range(num_layers(params, net)) for name in layer_names(net, i)] + [
        "log_std"]


def grad_norm_order(params):
    """The order in which the global gradient norm sums (SPEC 6.2), backpropagation's:
    pi.W2, pi.b2, pi.W1, ..., pi.b0, v.W2, ..., v.b0, log_std. A float sum's last
    bit depends on its order; a port summing in this order clips bit for bit alike."""
    return [name for net in NETWORKS for i in reversed(range(num_layers(params, net)))
            for name in layer_names(net, i)] + ["log_std"]


def policy_mean(params, obs):
    """``mu(s)``: (M, D) -> (M, A)."""
    return mlp_forward.unchecked(params, "pi", obs)[0]


policy_mean = checked(policy_mean, check_policy_mean)


def value(params, obs):
    """``V(s)``: (M, D) -> (M,)."""
    return mlp_forward.unchecked(params, "v", obs)[0][:, 0]


value = checked(value, check_value)
