"""The golden cases computed in float32: how far a correct float32 port lands from
the float64 golden outputs, the measurement behind ``ppo-ref check-port --float32``.

This module writes each case as a float32 port would, from the same formulas in the
same order, with every array in float32: inputs cast to float32 (integers and flags
kept), constants as float32, and hyperparameters as Python floats, which numpy
(like PyTorch) applies to a float32 array in float32. :func:`compute` checks that
every floating-point output is float32. (ppo_ref's core keeps float32 inputs in
float32 too, as ``train --dtype float32`` runs it; tests/test_port_float32.py checks
that its outputs pass ``check-port --float32`` as well. This module stays separate
so that a test can plant a port's typical faults in it.)

Steps that ports get wrong are small functions of their own (:func:`activation`,
:func:`adv_std`, :func:`log_std_grad`, :func:`adam_denominator`), so a test can
plant a fault in a real float32 computation by replacing one of them.

    python -m ppo_ref.port.float32 tests/golden

prints, per case, the worst tensor's error on its own scale,
``max |float32 - golden| / max |golden|``, the same on inputs nudged by one ulp,
and the tolerance the worst gives (:data:`ppo_ref.port.check.FLOAT32_MARGIN` times
it, :data:`ppo_ref.port.check.FLOAT32_TOL`); the table is in docs/porting.md §17.
"""

import math
import sys

import numpy as np

from ppo_ref.core.agent import grad_norm_order, param_names
from ppo_ref.core.losses import ADV_EPS
from ppo_ref.core.optim import ADAM_BETA1, ADAM_BETA2, ADAM_EPS, GRAD_NORM_EPS
from ppo_ref.port.cases import sub
from ppo_ref.port.format import load_case, read_index

F32 = np.float32
LOG_2PI = F32(np.log(2.0 * np.pi))
DIAGNOSTICS = ("pg_loss", "v_loss", "entropy", "approx_kl", "clipfrac", "grad_norm")


# --- the steps a port can get wrong -------------------------------------------------------------------------

def activation(x):
    """The hidden layers' nonlinearity, ``tanh``."""
    return np.tanh(x)


def activation_grad(y):
    """Its derivative given its output: ``1 - tanh(x)^2 = 1 - y^2``."""
    return F32(1) - y * y


def adv_std(adv):
    """The standard deviation that normalises the advantages: the sample one (ddof 1)."""
    return adv.std(ddof=1)


def log_std_grad(dlogprob, dlp_dlog_std):
    """``dL_pi/dlog_std``: the per-sample derivatives (M, A) weighted by ``dL/dlogprob``
    (M,) and summed over the samples (axis 0), giving (A,)."""
    return np.sum(dlogprob[:, None] * dlp_dlog_std, axis=0)


def adam_denominator(v, bias_correction2_sqrt, eps):
    """``sqrt(v) / sqrt(1 - beta2^t) + eps``: eps outside the square root (torch)."""
    return np.sqrt(v) / bias_correction2_sqrt + eps


# --- the cases ----------------------------------------------------------------------------------------------

def _named(prefix, arrays, names):
    return {f"{prefix}/{k}": arrays[k] for k in names}


def gaussian(x):
    a, mu, log_std = x["actions"], x["mu"], x["log_std"]
    var = np.exp(F32(2) * log_std)
    diff = a - mu
    return {
        "log_prob": np.sum(-(diff * diff) / (F32(2) * var) - log_std - F32(0.5) * LOG_2PI, axis=-1),
        "entropy": np.sum(log_std + F32(0.5) * (F32(1) + LOG_2PI)),
        "grad_mu": diff / var,
        "grad_log_std": diff * diff / var - F32(1),
        "entropy_grad_log_std": np.ones_like(log_std),
    }


def gae(x):
    rewards, values, next_values = x["rewards"], x["values"], x["next_values"]
    terminated, truncated = x["terminated"], x["truncated"]
    gamma, lam = x["gamma"].item(), x["lam"].item()
    done = terminated | truncated
    if not x["bootstrap_truncation"]:
        terminated = done
    delta = rewards + gamma * (F32(1) - terminated.astype(F32)) * next_values - values
    carry = gamma * lam * (F32(1) - done.astype(F32))
    advantages = np.empty_like(delta)
    last = np.zeros_like(delta[0])
    for t in range(delta.shape[0] - 1, -1, -1):
        last = delta[t] + carry[t] * last
        advantages[t] = last
    return {"advantages": advantages, "returns": advantages + values}


def _mlp_forward(params, net, x):
    """Every layer's output, input first; tanh on the hidden layers."""
    n = sum(1 for k in params if k.startswith(f"{net}.W"))
    hs = [x]
    for i in range(n):
        z = hs[-1] @ params[f"{net}.W{i}"] + params[f"{net}.b{i}"]
        hs.append(activation(z) if i < n - 1 else z)
    return hs


def _mlp_backward(params, net, hs, dy):
    grads, d = {}, dy
    for i in reversed(range(len(hs) - 1)):
        if i < len(hs) - 2:
            d = d * activation_grad(hs[i + 1])
        grads[f"{net}.W{i}"] = hs[i].T @ d
        grads[f"{net}.b{i}"] = np.sum(d, axis=0)
        if i > 0:
            d = d @ params[f"{net}.W{i}"].T
    return grads


def _tie_weight(x, y):
    return np.where(x > y, F32(1), np.where(x == y, F32(0.5), F32(0)))


def loss_and_grads(params, mb, clip_coef, ent_coef, vf_coef, clip_vloss, norm_adv):
    """SPEC 5 in float32: ``(loss, grads, info)`` as :func:`ppo_ref.core.losses.ppo_loss`."""
    obs, actions = mb["obs"], mb["actions"]
    m = obs.shape[0]
    pi = _mlp_forward(params, "pi", obs)
    mu, log_std = pi[-1], params["log_std"]
    var = np.exp(F32(2) * log_std)
    diff = actions - mu
    logprob = np.sum(-(diff * diff) / (F32(2) * var) - log_std - F32(0.5) * LOG_2PI, axis=-1)
    logratio = logprob - mb["logprobs_old"]
    ratio = np.exp(logratio)
    adv = mb["advantages"]
    if norm_adv:
        adv = (adv - adv.mean()) / (adv_std(adv) + F32(ADV_EPS))
    pg1 = -adv * ratio
    pg2 = -adv * np.clip(ratio, F32(1 - clip_coef), F32(1 + clip_coef))
    w = _tie_weight(pg1, pg2)
    in_range = ((ratio >= F32(1 - clip_coef)) & (ratio <= F32(1 + clip_coef))).astype(F32)
    dratio = -adv * (w + (F32(1) - w) * in_range)
    pg_loss = np.mean(np.maximum(pg1, pg2))
    ent = np.sum(log_std + F32(0.5) * (F32(1) + LOG_2PI))
    dlogprob = dratio * ratio / F32(m)
    dmu = dlogprob[:, None] * (diff / var)
    dlog_std = log_std_grad(dlogprob, diff * diff / var - F32(1)) - F32(ent_coef)

    vh = _mlp_forward(params, "v", obs)
    v = vh[-1][:, 0]
    err = v - mb["returns"]
    if clip_vloss:
        delta = v - mb["values_old"]
        err_c = mb["values_old"] + np.clip(delta, F32(-clip_coef), F32(clip_coef)) - mb["returns"]
        l1, l2 = err * err, err_c * err_c
        wv = _tie_weight(l1, l2)
        in_range_v = ((delta >= F32(-clip_coef)) & (delta <= F32(clip_coef))).astype(F32)
        v_terms, dv_terms = np.maximum(l1, l2), F32(2) * (wv * err + (F32(1) - wv) * err_c * in_range_v)
    else:
        v_terms, dv_terms = err * err, F32(2) * err
    v_loss = F32(0.5) * np.mean(v_terms)
    dv = F32(vf_coef * 0.5 / m) * dv_terms

    grads = _mlp_backward(params, "pi", pi, dmu)
    grads.update(_mlp_backward(params, "v", vh, dv[:, None]))
    grads["log_std"] = dlog_std
    info = {"pg_loss": pg_loss, "v_loss": v_loss, "entropy": ent,
            "approx_kl": np.mean((ratio - F32(1)) - logratio),
            "clipfrac": np.mean((np.abs(ratio - F32(1)) > F32(clip_coef)).astype(F32))}
    loss = pg_loss - F32(ent_coef) * ent + F32(vf_coef) * v_loss
    return loss, grads, info


def grad_norm(grads):
    """The global norm, the squares summed in float32 in backpropagation's order."""
    total = F32(0)
    for k in grad_norm_order(grads):
        total = total + np.vdot(grads[k], grads[k])
    return np.sqrt(total)


def clip(grads, max_grad_norm):
    norm = grad_norm(grads)
    scale = np.minimum(F32(1), F32(max_grad_norm) / (norm + F32(GRAD_NORM_EPS)))
    return {k: g * scale for k, g in grads.items()}, norm


def adam(params, grads, m, v, t, lr):
    """One Adam step in place; returns t + 1. Bias corrections in Python floats, as
    torch.optim.Adam computes them."""
    t += 1
    step_size = lr / (1.0 - ADAM_BETA1 ** t)
    bias_correction2_sqrt = math.sqrt(1.0 - ADAM_BETA2 ** t)
    for k in params:
        m[k] = ADAM_BETA1 * m[k] + (1.0 - ADAM_BETA1) * grads[k]
        v[k] = ADAM_BETA2 * v[k] + (1.0 - ADAM_BETA2) * (grads[k] * grads[k])
        params[k] = params[k] - step_size * m[k] / adam_denominator(v[k], bias_correction2_sqrt, ADAM_EPS)
    return t


def _options(x):
    return {k: x[k].item() for k in ("clip_coef", "ent_coef", "vf_coef", "clip_vloss", "norm_adv")}


def ppo_loss(x):
    params = sub(x, "params")
    mb = {k: x[k] for k in ("obs", "actions", "logprobs_old", "advantages", "returns", "values_old")}
    loss, grads, info = loss_and_grads(params, mb, **_options(x))
    return {"loss": loss, **_named("grads", grads, grad_norm_order(grads)),
            **{f"info/{k}": val for k, val in info.items()}}


def adam_step(x):
    params, m, v = sub(x, "params"), sub(x, "m"), sub(x, "v")
    clipped, norm = clip(sub(x, "grads"), x["max_grad_norm"].item())
    t = adam(params, clipped, m, v, int(x["t"]), x["lr"].item())
    names = param_names(params)
    return {"grad_norm": norm, **_named("clipped_grads", clipped, names), **_named("params_after", params, names),
            **_named("m_after", m, names), **_named("v_after", v, names), "t_after": np.array(t, dtype=np.int64)}


def ppo_update(x):
    params, m, v, t = sub(x, "params"), sub(x, "m"), sub(x, "v"), int(x["t"])
    batch = {{"logprobs": "logprobs_old", "values": "values_old"}.get(k, k): a for k, a in sub(x, "batch").items()}
    options, lr, max_grad_norm = _options(x), x["lr"].item(), x["max_grad_norm"].item()
    size = x["batch/obs"].shape[0] // int(x["num_minibatches"])
    sums = dict.fromkeys(DIAGNOSTICS, F32(0))
    count = 0
    for perm in x["permutations"][:int(x["update_epochs"])]:
        for start in range(0, len(perm), size):
            idx = perm[start:start + size]
            _, grads, info = loss_and_grads(params, {k: a[idx] for k, a in batch.items()}, **options)
            clipped, info["grad_norm"] = clip(grads, max_grad_norm)
            t = adam(params, clipped, m, v, t, lr)
            sums = {k: sums[k] + info[k] for k in DIAGNOSTICS}
            count += 1
    names = param_names(params)
    return {**_named("params_after", params, names), **_named("m_after", m, names), **_named("v_after", v, names),
            "t_after": np.array(t, dtype=np.int64), **{f"info/{k}": s / F32(count) for k, s in sums.items()}}


COMPUTE = {"gaussian": gaussian, "gae_bootstrap": gae, "gae_no_bootstrap": gae, "ppo_loss": ppo_loss,
           "adam_step": adam_step, "ppo_update": ppo_update}


def compute(case, arrays, nudge=None):
    """The outputs of ``case`` (an index entry) in float32, from its inputs in
    ``arrays`` (float64 inputs cast to float32): name -> array. ``nudge``, a numpy
    Generator: move each element of each float32 input array (not the 0-d
    hyperparameters) one ulp down, not at all or one ulp up, at random."""
    inputs = {a["name"]: arrays[a["name"]] for a in case["arrays"] if a["role"] == "input"}
    inputs = {k: a.astype(F32) if a.dtype.kind == "f" else a for k, a in inputs.items()}
    if nudge is not None:
        for k, a in inputs.items():
            if a.dtype == F32 and a.ndim:
                step = nudge.integers(-1, 2, a.shape)
                inputs[k] = np.where(step == 0, a, np.nextafter(a, np.where(step > 0, F32(np.inf), F32(-np.inf))))
    outputs = {k: np.asarray(a) for k, a in COMPUTE[case["name"]](inputs).items()}
    wide = [k for k, a in outputs.items() if a.dtype.kind == "f" and a.dtype != F32]
    if wide:
        raise AssertionError(f"{case['name']}: {', '.join(wide)} not computed in float32")
    return outputs


def port_outputs(vectors_dir, cases=None):
    """Every output of the named ``cases`` (default all) computed in float32, keyed
    ``"<case>/<name>"`` as a port writes them."""
    out = {}
    for case in read_index(vectors_dir)["cases"]:
        if cases is None or case["name"] in cases:
            outputs = compute(case, load_case(vectors_dir, case))
            out.update({f"{case['name']}/{k}": a for k, a in outputs.items()})
    return out


def scaled_error(port, golden):
    """``max |port - golden| / max |golden|``: the error on the tensor's own scale
    (the absolute error when the golden tensor is all zeros)."""
    diff = np.max(np.abs(np.asarray(port, np.float64) - golden)) if golden.size else 0.0
    scale = np.max(np.abs(golden)) if golden.size else 0.0
    return float(diff / scale) if scale > 0 else float(diff)


def measure(vectors_dir, nudge=None):
    """``[(case, name, scaled error)]`` of the float32 computation, in index order
    (``nudge``: see :func:`compute`)."""
    rows = []
    for case in read_index(vectors_dir)["cases"]:
        arrays = load_case(vectors_dir, case)
        outputs = compute(case, arrays, nudge)
        rows += [(case["name"], a["name"], scaled_error(outputs[a["name"]], arrays[a["name"]]))
                 for a in case["arrays"] if a["role"] == "output"]
    return rows


NUDGE_TRIALS, NUDGE_SEED = 20, 0


def worst_per_case(rows):
    """``{case: (name, scaled error)}``: each case's worst tensor."""
    worst = {}
    for case, name, err in rows:
        if case not in worst or err > worst[case][1]:
            worst[case] = (name, err)
    return worst


def table(vectors_dir):
    """The measurement as Markdown: per case the worst tensor of the float32
    computation and its scaled error; the worst over NUDGE_TRIALS runs on inputs
    nudged by one ulp; and the tolerance this gives."""
    from ppo_ref.port.check import FLOAT32_MARGIN, FLOAT32_NUDGE_MARGIN, FLOAT32_TOL

    measured = worst_per_case(measure(vectors_dir))
    rng = np.random.default_rng(NUDGE_SEED)
    nudged = {}
    for _ in range(NUDGE_TRIALS):
        for case, (_, err) in worst_per_case(measure(vectors_dir, rng)).items():
            nudged[case] = max(nudged.get(case, 0.0), err)
    lines = ["| case | worst tensor | max abs error / max abs golden | the same, inputs nudged by 1 ulp "
             f"(worst of {NUDGE_TRIALS}) |", "|---|---|---|---|"]
    lines += [f"| {case} | {name} | {err:.2e} | {nudged[case]:.2e} |" for case, (name, err) in measured.items()]
    case, (name, worst) = max(measured.items(), key=lambda item: item[1][1])
    worst_nudged = max(nudged.values())
    lines += ["", f"Worst: {worst:.2e} ({case}/{name}); x {FLOAT32_MARGIN} = {worst * FLOAT32_MARGIN:.2e}; "
                  f"nudged: {worst_nudged:.2e}, x {FLOAT32_NUDGE_MARGIN} = {worst_nudged * FLOAT32_NUDGE_MARGIN:.2e}; "
                  f"FLOAT32_TOL = {FLOAT32_TOL:g}, the larger rounded up."]
    return "\n".join(lines)


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m ppo_ref.port.float32 VECTORS_DIR", file=sys.stderr)
        return 2
    print(table(args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
