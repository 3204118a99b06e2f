"""A complete port of ppo_ref's golden cases to JAX, written from docs/spec.md.

It shares no code with ppo_ref: it imports numpy, JAX and the standard library
only, and reads the golden vectors through their documented format (index.json
and one .npz per case). Every function names the section of docs/spec.md
(written "SPEC n") it implements. Gradients come from ``jax.grad`` of the loss
written as the equations; the two places where autodiff's convention must be
chosen (a clip's derivative at its bounds, ties of a max) are written out.

    python examples/jax_port/port.py VECTORS_DIR OUTPUTS_NPZ
    ppo-ref check-port VECTORS_DIR OUTPUTS_NPZ
    python examples/jax_port/port.py VECTORS_DIR OUTPUTS_NPZ --float32     # the same port in float32
    ppo-ref check-port VECTORS_DIR OUTPUTS_NPZ --float32

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


def orthogonal(draw, gain):
    """SPEC 1.4: ``draw`` is G ~ N(0, 1) in torch's (out, in) shape; transpose it if
    out < in, take the reduced QR, multiply column j of Q by sign(R_jj), transpose
    back, scale by the gain; stored transposed, in ppo_ref's (in, out) layout."""
    rows, cols = draw.shape
    q, r = jnp.linalg.qr(draw.T if rows < cols else draw)
    q = q * jnp.sign(jnp.diag(r))
    return (gain * (q.T if rows < cols else q)).T


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


def kl(mu_p, log_std_p, mu_q, log_std_q):
    """SPEC 2.1: sum_i [log_std_q - log_std_p + (var_p + (mu_p - mu_q)^2) / (2 var_q) - 0.5]."""
    var_p, var_q = jnp.exp(2.0 * log_std_p), jnp.exp(2.0 * log_std_q)
    return jnp.sum(log_std_q - log_std_p + (var_p + (mu_p - mu_q) ** 2) / (2.0 * var_q) - 0.5, axis=-1)


def entropy(log_std):
    """SPEC 2.1: sum_i [log_std_i + 0.5 (1 + log(2 pi))], the same for every state."""
    return jnp.sum(log_std + 0.5 * (1.0 + LOG_2PI))


@jax.jit
def log_prob_grads(a, mu, log_std):
    """SPEC 2.1: per-sample d log_prob / d mu and d log_prob / d log_std, (M, A) each."""
    return jax.vmap(jax.grad(log_prob, argnums=(1, 2)), in_axes=(0, 0, None))(a, mu, log_std)


# --- SPEC 3: observation and reward normalisation -------------------------------------

OBS_CLIP = REWARD_CLIP = 10.0   # SPEC 3.2, 3.3
NORM_EPS = 1e-8


def rms_update(mean, var, count, x):
    """SPEC 3.1: merge the batch ``x`` (n, ...) into (mean, var, count) with the batch's
    mean and population variance (ddof 0); returns the new (mean, var, count)."""
    n = x.shape[0]
    batch_mean = x.mean(axis=0)
    batch_var = ((x - batch_mean) ** 2).mean(axis=0)
    delta = batch_mean - mean
    total = count + n
    return (mean + delta * n / total,
            (var * count + batch_var * n + delta * delta * count * n / total) / total, total)


def normalize_obs(obs, mean, var):
    """SPEC 3.2: clip((obs - mean) / sqrt(var + 1e-8), -10, 10)."""
    return jnp.clip((obs - mean) / jnp.sqrt(var + NORM_EPS), -OBS_CLIP, OBS_CLIP)


def scale_rewards(rewards, dones, G, mean, var, count, gamma):
    """SPEC 3.3, one step after the other: G <- r + gamma G, merge the N values of G,
    scale by sqrt(var_G + 1e-8) and clip, then G <- 0 where the episode ended (by
    termination or truncation). Returns the scaled rewards (T, N) and, per step, the
    (G, mean, var, count) after it."""
    scaled, after = [], []
    for t in range(rewards.shape[0]):
        G = rewards[t] + gamma * G
        mean, var, count = rms_update(mean, var, count, G)
        scaled.append(jnp.clip(rewards[t] / jnp.sqrt(var + NORM_EPS), -REWARD_CLIP, REWARD_CLIP))
        G = jnp.where(dones[t], 0.0, G)
        after.append((G, mean, var, count))
    return jnp.stack(scaled), after


# --- SPEC 2.2, 3.2, 4.1: the rollout, replayed from a trace ------------------------------

def replay_rollout(params, x, mean, var, count):
    """SPEC 2.2, 3.2, 4.1 on recorded env outputs: at each step normalise the
    observation acted on, act with the recorded noise (the buffer keeps the unclipped
    action, the env gets it clipped), merge the env's N observations (reset ones
    included) into the statistics, and at an episode end take V(final obs) normalised
    with the statistics after that merge (a final observation is never merged).
    Returns the rollout arrays (T, N, ...), the actions sent and the statistics."""
    log_std = params["log_std"]
    raw = x["next_obs"]
    out = {k: [] for k in ("obs", "actions", "actions_sent", "logprobs_old", "values_old", "final_values")}
    for t in range(x["noise"].shape[0]):
        obs = normalize_obs(raw, mean, var)
        mu, v = mlp(params, "pi", obs), mlp(params, "v", obs)[:, 0]
        action = mu + jnp.exp(log_std) * x["noise"][t]
        out["obs"].append(obs)
        out["actions"].append(action)
        out["actions_sent"].append(jnp.clip(action, x["action_low"], x["action_high"]))
        out["logprobs_old"].append(log_prob(action, mu, log_std))
        out["values_old"].append(v)
        raw = x["env/obs"][t]
        mean, var, count = rms_update(mean, var, count, raw)
        final = normalize_obs(x["env/final_obs"][t], mean, var)
        out["final_values"].append(mlp(params, "v", final)[:, 0])  # used only where the episode ended
    rollout = {k: jnp.stack(a) for k, a in out.items()}
    last = mlp(params, "v", normalize_obs(raw, mean, var))[:, 0]
    following = jnp.concatenate([rollout["values_old"][1:], last[None]])
    done = x["env/terminated"] | x["env/truncated"]
    rollout["next_values"] = jnp.where(done, rollout.pop("final_values"), following)
    return rollout, (mean, var, count)


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
            "grad_log_std": dlog_std, "entropy_grad_log_std": jax.grad(entropy)(log_std),
            "kl": kl(mu, log_std, jnp.asarray(x["mu_q"]), jnp.asarray(x["log_std_q"])),
            "sample": mu + jnp.exp(log_std) * x["noise"]}  # SPEC 2.2: a = mu + sigma * eps


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


def case_init(x):
    """SPEC 1.4: every weight orthogonal from its draw (hidden gain for W0, W1, the
    output gain for the last), biases 0, log_std 0."""
    out = {}
    for net, output_gain in (("pi", x["gain/pi_output"]), ("v", x["gain/v_output"])):
        n = sum(1 for k in x if k.startswith(f"draws/{net}.W"))
        for i in range(n):
            draw = jnp.asarray(x[f"draws/{net}.W{i}"])
            out[f"params/{net}.W{i}"] = orthogonal(draw, output_gain if i == n - 1 else x["gain/hidden"])
            out[f"params/{net}.b{i}"] = jnp.zeros(draw.shape[0], draw.dtype)
    out["params/log_std"] = jnp.zeros(x[f"draws/pi.W{n - 1}"].shape[0], out["params/pi.b0"].dtype)
    return out


def case_normalization(x):
    """SPEC 3.1, 3.2: the batches merged one after the other, then the observations normalised."""
    mean, var, count = jnp.asarray(x["mean"]), jnp.asarray(x["var"]), float(x["count"])
    rows = np.cumsum(np.concatenate([[0], x["batch_sizes"]]))
    after = []
    for start, stop in zip(rows[:-1], rows[1:]):
        mean, var, count = rms_update(mean, var, count, jnp.asarray(x["batches"][start:stop]))
        after.append((mean, var, count))
    return {"mean_after": jnp.stack([a[0] for a in after]), "var_after": jnp.stack([a[1] for a in after]),
            "count_after": np.array([a[2] for a in after], dtype=mean.dtype),
            "normalized": normalize_obs(x["obs"], mean, var)}


def learning_rate(k, K, lr0, anneal):
    """SPEC 6.3: lr_k = (1 - (k - 1) / K) lr0 for k = 1..K when annealed, evaluated as
    written; lr0 otherwise."""
    return (1.0 - (k - 1.0) / K) * lr0 if anneal else lr0


def case_lr_schedule(x):
    K, lr0 = int(x["num_iterations"]), float(x["learning_rate"])
    return {f"lr_{kind}": np.array([learning_rate(k, K, lr0, anneal) for k in range(1, K + 1)],
                                   dtype=x["learning_rate"].dtype)
            for kind, anneal in (("annealed", True), ("constant", False))}


def case_reward_scaling(x):
    done = x["terminated"] | x["truncated"]
    scaled, after = scale_rewards(jnp.asarray(x["rewards"]), done, jnp.asarray(x["G"]), x["mean"], x["var"],
                                  float(x["count"]), float(x["gamma"]))
    return {"scaled": scaled, "G_after": jnp.stack([a[0] for a in after]),
            "mean_after": jnp.stack([a[1] for a in after]), "var_after": jnp.stack([a[2] for a in after]),
            "count_after": np.array([a[3] for a in after], dtype=scaled.dtype)}


def case_iteration(x):
    """One iteration (SPEC 2.2 to 6.4): the rollout replayed, the rewards scaled, GAE,
    the learning rate of iteration k (SPEC 6.3) and the update with the recorded
    permutations; batch row t * N + n is step t of env n."""
    params = sub(x, "params")
    rollout, (mean, var, count) = replay_rollout(params, x, x["obs_rms/mean"], x["obs_rms/var"],
                                                 float(x["obs_rms/count"]))
    done = x["env/terminated"] | x["env/truncated"]
    gamma = float(x["gamma"])
    rewards, after = scale_rewards(
        jnp.asarray(x["env/rewards"]), done, x["reward_G"], x["reward_rms/mean"], x["reward_rms/var"],
        float(x["reward_rms/count"]), gamma)
    G, r_mean, r_var, r_count = after[-1]
    adv, ret = gae(rewards, rollout["values_old"], rollout["next_values"], jnp.asarray(x["env/terminated"]),
                   jnp.asarray(x["env/truncated"]), gamma, float(x["gae_lambda"]), bool(x["bootstrap_truncation"]))
    k, K, lr0 = int(x["iteration"]), int(x["num_iterations"]), float(x["learning_rate"])
    lr = learning_rate(k, K, lr0, bool(x["anneal_lr"]))
    B = adv.size
    batch = {"obs": rollout["obs"].reshape(B, -1), "actions": rollout["actions"].reshape(B, -1),
             "logprobs_old": rollout["logprobs_old"].reshape(B), "values_old": rollout["values_old"].reshape(B),
             "advantages": adv.reshape(B), "returns": ret.reshape(B)}
    params, m, v, t, info = update(params, sub(x, "m"), sub(x, "v"), int(x["t"]), batch,
                                   np.asarray(x["permutations"]), lr, float(x["max_grad_norm"]),
                                   int(x["num_minibatches"]), loss_options(x))
    return {**{f"rollout/{k}": a for k, a in rollout.items()}, "rollout/rewards": rewards,
            "obs_rms_after/mean": mean, "obs_rms_after/var": var, "obs_rms_after/count": np.float64(count),
            "reward_rms_after/mean": r_mean, "reward_rms_after/var": r_var,
            "reward_rms_after/count": np.float64(r_count), "reward_G_after": G, "advantages": adv, "returns": ret,
            "lr": np.float64(lr), **prefixed("params_after", params), **prefixed("m_after", m),
            **prefixed("v_after", v), "t_after": np.int64(t), **prefixed("info", info)}


CASES = {"gaussian": case_gaussian, "gae_bootstrap": case_gae, "gae_no_bootstrap": case_gae,
         "ppo_loss": case_loss, "adam_step": case_adam, "ppo_update": case_update,
         "ppo_loss_kinks": case_loss, "ppo_update_kinks": case_update, "init": case_init,
         "normalization": case_normalization, "lr_schedule": case_lr_schedule,
         "reward_scaling": case_reward_scaling, "iteration": case_iteration}


def read_case(vectors_dir, case, dtype=np.float64):
    """The case's input arrays by name, as index.json lists them with role "input";
    float64 arrays as ``dtype`` (float32 for a float32 port: every operation on them
    then stays float32, SPEC 0.4)."""
    with np.load(os.path.join(vectors_dir, case["file"]), allow_pickle=False) as npz:
        return {a["name"]: npz[a["name"]].astype(dtype) if npz[a["name"]].dtype == np.float64 else npz[a["name"]]
                for a in case["arrays"] if a["role"] == "input"}


def run(vectors_dir, dtype=np.float64):
    """Every golden output this port computes in ``dtype``, keyed ``"<case>/<array>"``."""
    with open(os.path.join(vectors_dir, "index.json"), encoding="utf-8") as f:
        index = json.load(f)
    outputs = {}
    for case in index["cases"]:
        if case["name"] not in CASES:
            print(f"port: no port for case {case['name']!r}, skipped", file=sys.stderr)
            continue
        computed = CASES[case["name"]](read_case(vectors_dir, case, dtype))
        for a in case["arrays"]:
            if a["role"] == "output":
                if a["name"] not in computed:
                    raise KeyError(f"case {case['name']}: the port does not compute {a['name']!r}")
                outputs[f"{case['name']}/{a['name']}"] = np.asarray(computed[a["name"]])
    return outputs


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    float32 = "--float32" in argv
    argv = [a for a in argv if a != "--float32"]
    if len(argv) != 2:
        print("usage: python examples/jax_port/port.py VECTORS_DIR OUTPUTS_NPZ [--float32]", file=sys.stderr)
        return 2
    outputs = run(argv[0], np.float32 if float32 else np.float64)
    with open(argv[1], "wb") as f:
        np.savez(f, **outputs)
    print(f"wrote {len(outputs)} arrays to {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
