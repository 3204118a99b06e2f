"""Likely causes of check-port failures that have a known signature.

A wrong port fails many tensors; some faults leave a pattern that names them: the
tensor equals the golden one with its sign flipped, or reshaped where it should
have been transposed; the Adam moments pass and the parameters do not; only the
samples on the loss's kinks differ; the rollout's normalised observations are
right at the first step and wrong from the second. :func:`likely_causes` looks for
each pattern in a port's outputs beside the golden arrays (inputs and outputs) and
returns, for the failing tensors it explains, the cause with the section of
docs/porting.md that describes it. A pattern is a hint, not a proof: the report
still lists every failure.
"""

import math

import numpy as np

OBS_CLIP_BOUND = 10.0  # SPEC 3.2
SIGNATURE_RTOL = {False: 1e-6, True: 1e-3}
"""How close to the fault's prediction a port's tensor must be, relative to the
tensor's largest golden element (float64, float32 ports)."""


def _near(port, expected, float32):
    port, expected = np.asarray(port, np.float64), np.asarray(expected, np.float64)
    if port.shape != expected.shape or expected.size == 0:
        return False
    scale = float(np.max(np.abs(expected)))
    return bool(np.all(np.abs(port - expected) <= SIGNATURE_RTOL[float32] * scale)) and scale > 0


def _rows_near(port, expected, float32):
    """Per index of axis 0: whether that row of ``port`` is near ``expected``'s, on
    the whole tensor's scale."""
    port, expected = np.asarray(port, np.float64), np.asarray(expected, np.float64)
    scale = float(np.max(np.abs(expected)))
    bad = np.abs(port - expected) > SIGNATURE_RTOL[float32] * scale
    return ~bad.reshape(bad.shape[0], -1).any(axis=1), bad


def _tensor_cause(port, golden, float32):
    """A cause read off one tensor alone: a sign flip, or a reshape for a transpose."""
    if _near(port, -golden, float32):
        return ("the whole tensor has its sign flipped: a loss maximised instead of minimised, or a derivative "
                "with the wrong sign (docs/porting.md §17)")
    port = np.asarray(port)
    bound = float(np.max(np.abs(port))) if port.size else 0.0
    if port.shape == golden.shape and OBS_CLIP_BOUND > bound > 0 and np.max(np.abs(golden)) == OBS_CLIP_BOUND \
            and _near(port, np.clip(golden, -bound, bound), float32):
        return (f"the tensor is the golden one clipped at +-{bound:g}: observations are clipped to "
                f"[-{OBS_CLIP_BOUND:g}, {OBS_CLIP_BOUND:g}] after normalising, SPEC 3.2 (docs/porting.md §13)")
    out_in = golden.shape[::-1]
    if golden.ndim != 2 or 1 in golden.shape or port.shape not in (golden.shape, out_in):
        return None
    if _near(port.reshape(golden.shape) if port.shape == golden.shape else port.T, golden.T if port.shape ==
             golden.shape else golden, float32):
        return None  # a plain transpose: compare names it
    if (port.shape == golden.shape and any(_near(port, c, float32) for c in (golden.T.reshape(golden.shape),
                                                                             golden.reshape(out_in).T))) \
            or (port.shape == out_in and _near(port, golden.reshape(out_in), float32)):
        return ("the tensor holds the golden one reshaped between (in, out) and (out, in) instead of "
                "transposed: a weight loaded or written with reshape where a transpose belongs (docs/porting.md §1)")
    return None


def likely_causes(results, golden, port, float32=False):
    """``{key: cause}`` for the failing tensors whose pattern names a fault.

    ``results``: the report's TensorResults; ``golden``: per case name, the case's
    arrays (inputs and outputs); ``port``: the port's outputs by key."""
    failed = {r.key for r in results if not r.ok}
    checked = {r.key for r in results}
    causes = {}
    for key in sorted(failed):
        case, name = key.split("/", 1)
        if key in port and case in golden and name in golden[case]:
            g = golden[case][name]
            if np.size(port[key]) == g.size:
                cause = _tensor_cause(port[key], g, float32)
                if cause:
                    causes[key] = cause
    failed = {r.key for r in results if r.status == "fail"}  # wrong values: the patterns below read them
    by_case = {}
    for key in sorted(failed):
        by_case.setdefault(key.split("/", 1)[0], []).append(key)
    for case, keys in by_case.items():
        x = golden.get(case, {})
        for finder in (_ddof0, _adam_eps, _kinks, _learning_rate, _rollout, _reward_scaling, _init):
            for key, cause in finder(case, keys, x, port, checked, failed, float32).items():
                causes.setdefault(key, cause)
    return causes


def _ddof0(case, keys, x, port, checked, failed, float32):
    """Advantages normalised with the population std: in a one-minibatch case the
    policy loss is the golden one times sqrt(M / (M - 1))."""
    key = f"{case}/info/pg_loss"
    if "obs" not in x or key not in failed or key not in port or not bool(x.get("norm_adv", False)):
        return {}
    M = x["obs"].shape[0]
    if not _near(port[key], x["info/pg_loss"] * math.sqrt(M / (M - 1)), float32):
        return {}
    cause = (f"the policy loss is the golden one times sqrt(M / (M - 1)) = {math.sqrt(M / (M - 1)):.4f} (M = {M}): "
             "advantages normalised with the population std (ddof 0) instead of the sample std (ddof 1) "
             "(docs/porting.md §6)")
    return {k: cause for k in keys}


def _adam_eps(case, keys, x, port, checked, failed, float32):
    """Adam's moments right and its parameters wrong: where eps sits, or the bias corrections."""
    moments = [k for k in checked if k.startswith((f"{case}/m_after/", f"{case}/v_after/"))]
    params = [k for k in keys if k.startswith(f"{case}/params_after/")]
    if not moments or not params or any(k in failed for k in moments):
        return {}
    cause = ("the Adam moments m_after and v_after are right and the parameters are not: eps inside the square "
             "root (sqrt(v_hat + eps)) instead of added to it, or the bias corrections (docs/porting.md §8)")
    return {k: cause for k in params}


def _kinks(case, keys, x, port, checked, failed, float32):
    """A kink case fails while its twin away from the kinks passes."""
    if not case.endswith("_kinks"):
        return {}
    twin = case[:-len("_kinks")]
    twin_keys = [k for k in checked if k.startswith(twin + "/")]
    if not twin_keys or any(k in failed for k in twin_keys):
        return {}
    cause = (f"{twin} passes and {case} does not: only the samples exactly on the loss's kinks differ, so the "
             "convention there: the clip's derivative is 1 on the closed range (<= at both bounds, in the ratio "
             "clip and in the value clip), and a tie of a max splits its derivative half and half "
             "(docs/porting.md §7)")
    return {k: cause for k in keys}


def _learning_rate(case, keys, x, port, checked, failed, float32):
    """The learning rate of iteration k equal to (1 - k / K) lr0: in the iteration
    case (``lr``) and in lr_schedule (``lr_annealed``, k = 1..K)."""
    if "num_iterations" not in x:
        return {}
    K, lr0 = int(x["num_iterations"]), float(x["learning_rate"])
    ks = np.array([int(x["iteration"])]) if "iteration" in x else np.arange(1, K + 1)
    for key in (f"{case}/lr", f"{case}/lr_annealed"):
        if key in failed and key in port and _near(np.ravel(port[key]), (1.0 - ks / K) * lr0, float32):
            return {key: "the learning rate of iteration k is (1 - k / K) lr0: annealed from k instead of k - 1 "
                         "(docs/porting.md §14)"}
    return {}


def _first(mask):
    """The first index of axis 0 where ``mask`` (rows passing) is false, or None."""
    bad = np.flatnonzero(~mask)
    return int(bad[0]) if bad.size else None


def _rollout(case, keys, x, port, checked, failed, float32):
    """The iteration case's rollout outputs: which step fails first, and what the
    port's values equal there."""
    if "env/terminated" not in x:
        return {}
    causes = {}
    terminated, truncated = x["env/terminated"], x["env/truncated"]
    done = terminated | truncated
    ends = np.flatnonzero(done.any(axis=1))
    key = f"{case}/rollout/obs"
    if key in failed and key in port:
        rows, _ = _rows_near(port[key], x["rollout/obs"], float32)
        t = _first(rows)
        if t == 1:
            causes[key] = ("the normalised observations are right at the first step and wrong from the second: the "
                           "statistics merged after normalising instead of before (docs/porting.md §13)")
        elif t is not None and ends.size and t == ends[0] + 1:
            causes[key] = (f"the normalised observations are right until step {t}, the step after the first "
                           "episode end: the reset observations not merged into the statistics (docs/porting.md §13)")
    key = f"{case}/rollout/actions"
    if key in failed and key in port and _near(port[key], x["rollout/actions_sent"], float32):
        causes[key] = ("the buffer holds the clipped actions sent to the env: it must keep the unclipped sampled "
                       "ones, whose log-probs the loss compares with (docs/porting.md §12)")
    key = f"{case}/rollout/next_values"
    if key in failed and key in port:
        _, bad = _rows_near(port[key], x["rollout/next_values"], float32)
        bad = bad.reshape(done.shape)
        if bad.any() and not (bad & ~done).any():
            p = np.asarray(port[key])
            following = np.concatenate([x["rollout/values_old"][1:], np.zeros((1, done.shape[1]))])
            if np.all(p[bad & truncated] == 0.0) and (bad & truncated).any():
                causes[key] = ("the next values differ only at episode ends, and are 0 at truncations: a truncated "
                               "step needs V(final obs), only a terminated one has no future (docs/porting.md §11)")
            elif _near(p[bad], following[bad], float32):
                causes[key] = ("the next values differ only at episode ends, where they equal the value of the next "
                               "step's (reset) observation: an episode end needs V(final obs), the observation it "
                               "ended on (docs/porting.md §11)")
            else:
                causes[key] = ("the next values differ only at episode ends: V(final obs), normalised with the "
                               "statistics after that step's merge (docs/porting.md §11)")
    causes.update(_scaled_rewards(f"{case}/rollout/rewards", x["rollout/rewards"], terminated, truncated, port,
                                  failed, float32))
    return causes


def _reward_scaling(case, keys, x, port, checked, failed, float32):
    if "G_after" not in x:
        return {}
    return _scaled_rewards(f"{case}/scaled", x["scaled"], x["terminated"], x["truncated"], port, failed, float32)


def _scaled_rewards(key, golden, terminated, truncated, port, failed, float32):
    """Scaled rewards wrong from the first step (the scale), or from the step after
    the first truncation (G not reset there)."""
    if key not in failed or key not in port:
        return {}
    rows, _ = _rows_near(port[key], golden, float32)
    t = _first(rows)
    if t == 0:
        return {key: ("the scaled rewards are wrong from the first step: the scale is the std of the discounted "
                      "return G = r + gamma G after merging it, not of the rewards (docs/porting.md §13)")}
    truncations = np.flatnonzero((truncated & ~terminated).any(axis=1))
    if t is not None and truncations.size and t == truncations[0] + 1:
        return {key: (f"the scaled rewards are right until step {t}, the step after the first truncation: G not "
                      "reset to 0 at a truncation (gymnasium's NormalizeReward); ppo_ref resets it at every episode "
                      "end (docs/porting.md §13)")}
    return {}


def _init(case, keys, x, port, checked, failed, float32):
    """The init case: weights equal to the golden ones up to the signs of whole rows
    or columns lack the sign fix; other differences are the algorithm's steps."""
    if not any(k.startswith("draws/") for k in x):
        return {}
    causes = {}
    for key in keys:
        name = key.split("/", 1)[1]
        if not name.startswith("params/") or ".W" not in name or key not in port:
            continue
        if _near(np.abs(port[key]), np.abs(x[name]), float32):
            causes[key] = ("the weight equals the golden one up to the signs of whole columns: the sign fix is "
                           "missing, Q's column j multiplied by sign(R_jj) (docs/porting.md §4)")
        else:
            causes[key] = ("the orthogonal initialisation differs: QR of the draw in torch's (out, in) shape "
                           "(transposed first when out < in), not of its (in, out) transpose; the sign fix; the "
                           "transpose back and the (in, out) layout stored (docs/porting.md §4)")
    return causes
