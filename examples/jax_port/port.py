"""A complete port of ppo_ref's golden cases to JAX, written from docs/spec.md.

It shares no code with ppo_ref: it imports numpy, JAX and the standard library
only, and reads the golden vectors through their documented format (index.json
and one .npz per case). Every function names the section of docs/spec.md
(written "SPEC n") it implements. Gradients come from ``jax.grad`` of the loss
written as the equations; the two places where autodiff's convention must be
chosen (a clip's derivative at its bounds, ties of a max) are written out.

    python examples/jax_port/port.py VECTORS_DIR OUTPUTS_NPZ
    ppo-ref check-port VECTORS_DIR OUTPUTS_NPZ

The outputs file holds one array per golden output, keyed ``"<case>/<array>"``.
Arrays are selected by name and role from index.json, never by position.
"""

import json
import math
import os
import sys

import numpy as np

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # CPU only: no accelerator probing or warnings

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

jax.config.update("jax_enable_x64", True)  # float64 throughout (SPEC 0.1)

LOG_2PI = math.log(2.0 * math.pi)
ADV_EPS = 1e-8            # SPEC 5.1: advantage normalisation
ADAM_BETA1, ADAM_BETA2, ADAM_EPS = 0.9, 0.999, 1e-5   # SPEC 6.1, 7
GRAD_NORM_EPS = 1e-6      # SPEC 6.2: clip scale min(1, max_norm / (norm + 1e-6))
NETWORKS = ("pi", "v")


# --- SPEC 1: networks --------------------------------------------------------------

def num_layers(params, net):
    n = 0
    while f"{net}.W{n}" in params:
        n += 1
    return n


def mlp(params, net, x):
    """SPEC 1.1, 1.3: tanh MLP D -> 64 -> 64 -> out, weights (in, out), ``y = x @ W + b``, linear last layer."""
    n = num_layers(params, net)
    h = x
    for i in range(n):
        h = h @ params[f"{net}.W{i}"] + params[f"{net}.b{i}"]
        if i < n - 1:
            h = jnp.tanh(h)
    return h


def grad_norm_order(params):
    """SPEC 6.2: the order the global norm sums in: each network's layers last first
    (W before b), the policy before the value network, log_std last."""
    return [f"{net}.{kind}{i}" for net in NETWORKS for i in reversed(range(num_layers(params, net)))
            for kind in "Wb"] + ["log_std"]


# --- SPEC 2: diagonal Gaussian ------------------------------------------------------

def log_prob(a, mu, log_std):
    """SPEC 2.1: sum_i [-(a_i - mu_i)^2 / (2 sigma_i^2) - log_std_i - 0.5 log(2 pi)], no epsilon."""
    var = jnp.exp(2.0 * log_std)
    return jnp.sum(-((a - mu) ** 2) / (2.0 * var) - log_std - 0.5 * LOG_2PI, axis=-1)


def entropy(log_std):
    """SPEC 2.1: sum_i [log_std_i + 0.5 (1 + log(2 pi))], the same for every state."""
    return jnp.sum(log_std + 0.5 * (1.0 + LOG_2PI))


@jax.jit
def log_prob_grads(a, mu, log_std):
    """SPEC 2.1: per-sample d log_prob / d mu and d log_prob / d log_std, (M, A) each."""
    return jax.vmap(jax.grad(log_prob, argnums=(1, 2)), in_axes=(0, 0, None))(a, mu, log_std)


# --- SPEC 4: GAE --------------------------------------------------------------------

def gae(rewards, values, next_values, terminated, truncated, gamma, lam, bootstrap_truncation=True):
    """SPEC 4.2, 4.3: delta_t = r_t + gamma (1 - terminated_t) v'_t - v_t;
    A_t = delta_t + gamma lam (1 - done_t) A_{t+1}, the rollout's last step looking no
    further; R_t = A_t + v_t. Without bootstrapping, truncation counts as termination."""
    done = terminated | truncated
    if not bootstrap_truncation:
        terminated = done
    delta = rewards + gamma * (1.0 - terminated) * next_values - values
    carry = gamma * lam * (1.0 - done)

    # A Python loop of separate operations: inside jax.lax.scan (or jit) XLA fuses
    # d + c * last into one fused multiply-add, which rounds once instead of twice
    # and moves the last bit; SPEC 4's outputs are exact, so each operation rounds.
    last, rows = jnp.zeros_like(delta[0]), []
    for t in range(delta.shape[0] - 1, -1, -1):
        last = delta[t] + carry[t] * last
        rows.append(last)
    advantages = jnp.stack(rows[::-1])
    return advantages, advantages + values


# --- SPEC 5: loss -------------------------------------------------------------------

def clip(x, lo, hi):
    """``clip(x, lo, hi)`` with derivative 1 on the closed interval [lo, hi] (SPEC 5.3, 5.4).
    ``jnp.clip`` is maximum-then-minimum, whose tie rule gives 1/2 at a bound."""
    return jnp.where((x >= lo) & (x <= hi), x, jnp.clip(x, lo, hi))


def normalize_advantages(adv):
    """SPEC 5.1: per minibatch, (A - mean) / (std with ddof 1 + 1e-8)."""
    return (adv - adv.mean()) / (adv.std(ddof=1) + ADV_EPS)


def surrogate_terms(ratio, adv, clip_coef):
    """SPEC 5.3: per-sample max(-A rho, -A clip(rho, 1 - eps, 1 + eps)). ``jnp.maximum``
    splits the gradient half and half at exact ties, as SPEC 5.5 requires."""
    return jnp.maximum(-adv * ratio, -adv * clip(ratio, 1.0 - clip_coef, 1.0 + clip_coef))


def value_terms(v, values_old, returns, clip_coef, clip_vloss):
    """SPEC 5.4: per-sample (v - R)^2, or max((v - R)^2, (v_c - R)^2) with
    v_c = v_old + clip(v - v_old, -eps, eps)."""
    err = v - returns
    if not clip_vloss:
        return err * err
    err_c = values_old + clip(v - values_old, -clip_coef, clip_coef) - returns
    return jnp.maximum(err * err, err_c * err_c)


def loss(params, mb, clip_coef, ent_coef, vf_coef, clip_vloss, norm_adv):
    """SPEC 5.2 to 5.7: L = L_pi - ent_coef * mean(entropy) + vf_coef * L_v for one minibatch
    ``mb`` (obs, actions, logprobs_old, values_old, advantages, returns).
    Returns ``(L, info)``."""
    mu = mlp(params, "pi", mb["obs"])
    v = mlp(params, "v", mb["obs"])[:, 0]
    logratio = log_prob(mb["actions"], mu, params["log_std"]) - mb["logprobs_old"]
    ratio = jnp.exp(logratio)
    adv = normalize_advantages(mb["advantages"]) if norm_adv else mb["advantages"]
    pg_loss = surrogate_terms(ratio, adv, clip_coef).mean()
    v_loss = 0.5 * value_terms(v, mb["values_old"], mb["returns"], clip_coef, clip_vloss).mean()
    ent = entropy(params["log_std"])
    info = {"pg_loss": pg_loss, "v_loss": v_loss, "entropy": ent,
            "approx_kl": jnp.mean((ratio - 1.0) - logratio),
            "clipfrac": jnp.mean((jnp.abs(ratio - 1.0) > clip_coef).astype(jnp.float64))}
    return pg_loss - ent_coef * ent + vf_coef * v_loss, info


loss_and_grads = jax.jit(jax.value_and_grad(loss, has_aux=True), static_argnames=("clip_vloss", "norm_adv"))
"""SPEC 5.6: ``((L, info), dL/dparams)``, the gradient by jax.grad."""


# --- SPEC 6: optimisation -----------------------------------------------------------

@jax.jit
def sums_of_squares(grads):
    """Each array's sum of squares, ``vdot(g, g)``, by name."""
    return {k: jnp.vdot(g, g) for k, g in grads.items()}


def global_norm(grads, order):
    """SPEC 6.2: sqrt of the sum of squares of every gradient, the arrays' sums
    added one by one in ``order`` as float64."""
    sums = sums_of_squares(grads)
    total = 0.0
    for k in order:
        total = total + float(sums[k])
    return math.sqrt(total)


def clip_scale(norm, max_norm):
    """SPEC 6.2: min(1, max_norm / (norm + 1e-6))."""
    return min(1.0, max_norm / (norm + GRAD_NORM_EPS))


def adam_step(params, grads, m, v, t, lr):
    """SPEC 6.1, torch semantics: t first, then the moments, eps after the bias-corrected
    square root. Returns new ``(params, m, v, t)``.

    Elementwise, so it runs on all parameters raveled into one vector (the same
    numbers, and one compiled kernel per operation instead of one per shape).
    Each operation runs on its own, not under jit, where XLA would fuse
    ``b1 m + (1 - b1) g`` into a fused multiply-add and move the last bit; and
    ``sqrt(1 - b2^t)`` is divided by as a full array, because XLA turns a division
    by a broadcast scalar into a multiplication by its reciprocal (another last bit)."""
    flat_p, unravel = ravel_pytree(params)
    flat_g, flat_m, flat_v = (ravel_pytree({k: x[k] for k in params})[0] for x in (grads, m, v))
    t += 1
    flat_m = ADAM_BETA1 * flat_m + (1.0 - ADAM_BETA1) * flat_g
    flat_v = ADAM_BETA2 * flat_v + (1.0 - ADAM_BETA2) * (flat_g * flat_g)
    flat_p = flat_p - (lr / (1.0 - ADAM_BETA1**t)) * flat_m / (
        jnp.sqrt(flat_v) / jnp.full_like(flat_v, math.sqrt(1.0 - ADAM_BETA2**t)) + ADAM_EPS)
    return unravel(flat_p), unravel(flat_m), unravel(flat_v), t


def clip_and_step(params, grads, m, v, t, lr, max_grad_norm):
    """SPEC 6.2, 6.1: global-norm clip, then one Adam step. Returns (params, m, v, t, norm, clipped)."""
    norm = global_norm(grads, grad_norm_order(params))
    scale = clip_scale(norm, max_grad_norm)
    clipped = {k: g * scale for k, g in grads.items()}
    return (*adam_step(params, clipped, m, v, t, lr), norm, clipped)


DIAGNOSTICS = ("pg_loss", "v_loss", "entropy", "approx_kl", "clipfrac", "grad_norm")


def update(params, m, v, t, batch, perms, lr, max_grad_norm, num_minibatches, opts):
    """SPEC 6.4: for each epoch, its permutation (given here; SPEC 8.1 draws them from the
    minibatch generator) walked in consecutive minibatches of
    B / num_minibatches samples; per minibatch the loss, the clip and an Adam step.
    Returns (params, m, v, t, diagnostics averaged over the minibatches)."""
    size = batch["obs"].shape[0] // num_minibatches
    sums = dict.fromkeys(DIAGNOSTICS, 0.0)
    count = 0
    for perm in perms:
        for start in range(0, batch["obs"].shape[0], size):
            idx = perm[start:start + size]
            (_, info), grads = loss_and_grads(params, {k: x[idx] for k, x in batch.items()}, **opts)
            params, m, v, t, norm, _ = clip_and_step(params, grads, m, v, t, lr, max_grad_norm)
            info = {**{k: float(x) for k, x in info.items()}, "grad_norm": norm}
            for k in DIAGNOSTICS:
                sums[k] += info[k]
            count += 1
    return params, m, v, t, {k: s / count for k, s in sums.items()}


# --- the golden cases ---------------------------------------------------------------

LOSS_OPTIONS = ("clip_coef", "ent_coef", "vf_coef", "clip_vloss", "norm_adv")


def sub(x, prefix):
    """The arrays named ``prefix/<name>``, as ``{name: array}``."""
    return {k[len(prefix) + 1:]: a for k, a in x.items() if k.startswith(prefix + "/")}


def prefixed(prefix, arrays):
    return {f"{prefix}/{k}": a for k, a in arrays.items()}


def loss_options(x):
    return {k: (bool(x[k]) if k in ("clip_vloss", "norm_adv") else float(x[k])) for k in LOSS_OPTIONS}


def case_gaussian(x):
    a, mu, log_std = (jnp.asarray(x[k]) for k in ("actions", "mu", "log_std"))
    dmu, dlog_std = log_prob_grads(a, mu, log_std)
    return {"log_prob": log_prob(a, mu, log_std), "entropy": entropy(log_std), "grad_mu": dmu,
            "grad_log_std": dlog_std, "entropy_grad_log_std": jax.grad(entropy)(log_std)}


def case_gae(x):
    adv, ret = gae(*(jnp.asarray(x[k]) for k in ("rewards", "values", "next_values", "terminated", "truncated")),
                   float(x["gamma"]), float(x["lam"]), bool(x["bootstrap_truncation"]))
    return {"advantages": adv, "returns": ret}


def case_loss(x):
    mb = {k: jnp.asarray(x[k]) for k in ("obs", "actions", "logprobs_old", "values_old", "advantages", "returns")}
    (total, info), grads = loss_and_grads(sub(x, "params"), mb, **loss_options(x))
    return {"loss": total, **prefixed("grads", grads), **prefixed("info", info)}


def case_adam(x):
    params, m, v, t, norm, clipped = clip_and_step(sub(x, "params"), sub(x, "grads"), sub(x, "m"), sub(x, "v"),
                                                   int(x["t"]), float(x["lr"]), float(x["max_grad_norm"]))
    return {"grad_norm": norm, **prefixed("clipped_grads", clipped), **prefixed("params_after", params),
            **prefixed("m_after", m), **prefixed("v_after", v), "t_after": np.int64(t)}


def case_update(x):
    batch = sub(x, "batch")
    perms = np.asarray(x["permutations"])
    if perms.shape[0] != int(x["update_epochs"]):
        raise ValueError(f"permutations has {perms.shape[0]} rows, update_epochs is {int(x['update_epochs'])}")
    params, m, v, t, info = update(sub(x, "params"), sub(x, "m"), sub(x, "v"), int(x["t"]), batch, perms,
                                   float(x["lr"]), float(x["max_grad_norm"]), int(x["num_minibatches"]),
                                   loss_options(x))
    return {**prefixed("params_after", params), **prefixed("m_after", m), **prefixed("v_after", v),
            "t_after": np.int64(t), **prefixed("info", info)}


CASES = {"gaussian": case_gaussian, "gae_bootstrap": case_gae, "gae_no_bootstrap": case_gae,
         "ppo_loss": case_loss, "adam_step": case_adam, "ppo_update": case_update,
         "ppo_loss_kinks": case_loss, "ppo_update_kinks": case_update}


def read_case(vectors_dir, case):
    """The case's input arrays by name, as index.json lists them with role "input"."""
    with np.load(os.path.join(vectors_dir, case["file"]), allow_pickle=False) as npz:
        return {a["name"]: npz[a["name"]] for a in case["arrays"] if a["role"] == "input"}


def run(vectors_dir):
    """Every golden output this port computes, keyed ``"<case>/<array>"``."""
    with open(os.path.join(vectors_dir, "index.json"), encoding="utf-8") as f:
        index = json.load(f)
    outputs = {}
    for case in index["cases"]:
        if case["name"] not in CASES:
            print(f"port: no port for case {case['name']!r}, skipped", file=sys.stderr)
            continue
        computed = CASES[case["name"]](read_case(vectors_dir, case))
        for a in case["arrays"]:
            if a["role"] == "output":
                if a["name"] not in computed:
                    raise KeyError(f"case {case['name']}: the port does not compute {a['name']!r}")
                outputs[f"{case['name']}/{a['name']}"] = np.asarray(computed[a["name"]])
    return outputs


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python examples/jax_port/port.py VECTORS_DIR OUTPUTS_NPZ", file=sys.stderr)
        return 2
    outputs = run(argv[0])
    with open(argv[1], "wb") as f:
        np.savez(f, **outputs)
    print(f"wrote {len(outputs)} arrays to {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
