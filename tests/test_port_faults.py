"""Planted port faults fail check-port, and the report names the likely cause with
its docs/porting.md section (ppo_ref/port/diagnose.py).

The port is the reference core computing every golden case from the committed
inputs in float64; each fault is planted as a port would make it, by replacing a
core function (or the engine the iteration case runs on) in the test, or by
changing a correct output as the fault would change it. The cause is asserted on
the failure to look at first, the earliest in the computation."""

import numpy as np
import pytest

from ppo_ref.core import losses, mlp, normalization
from ppo_ref.core.agent import policy_mean
from ppo_ref.core.distributions import log_prob
from ppo_ref.core.optim import ADAM_BETA1, ADAM_BETA2, ADAM_EPS
from ppo_ref.engines import REFERENCE, ReferenceEngine
from ppo_ref.port import cases, iteration
from ppo_ref.port.cases import CASES
from ppo_ref.port.check import port_report

from conftest import GOLDEN_DIR, golden_inputs


def core_port(tmp_path, perturb=None):
    """Every case's outputs computed by the core from the committed inputs; ``perturb(outputs)``
    changes them as a faulty port would."""
    outputs = {f"{case.name}/{name}": np.asarray(arr) for case in CASES
               for name, arr, _ in case.compute(golden_inputs(case.name))}
    if perturb is not None:
        perturb(outputs)
    path = tmp_path / "outputs.npz"
    np.savez(path, **outputs)
    return path


TRACE = golden_inputs("iteration")
DONE = TRACE["env/terminated"] | TRACE["env/truncated"]


class Faulty(ReferenceEngine):
    """The reference engine, stepping through the trace: ``self.t`` is the rollout
    step whose env outputs the statistics merge next."""

    def __init__(self):
        self.t = 0


class ResetsNotMerged(Faulty):
    def rms_update(self, rms, x):
        keep = ~DONE[self.t]
        self.t += 1
        return normalization.rms_update(rms, x[keep]) if keep.any() else rms


class MergedAfterNormalising(Faulty):
    """Normalises with the statistics before the step's merge."""
    stale = None

    def rms_update(self, rms, x):
        self.stale = rms
        return normalization.rms_update(rms, x)

    def normalize_obs(self, obs, rms):
        return normalization.normalize_obs(obs, self.stale if self.stale is not None else rms)


class GNotResetAtTruncation(Faulty):
    def scale_reward(self, scaler, rewards, dones, gamma):
        t, self.t = self.t, self.t + 1
        return normalization.scale_reward(scaler, rewards, TRACE["env/terminated"][t], gamma)


class RewardsScaledByTheirOwnStd(Faulty):
    @staticmethod
    def scale_reward(scaler, rewards, dones, gamma):
        g = rewards + gamma * scaler.returns
        rms = normalization.rms_update(scaler.rms, rewards)
        scaled = np.clip(rewards / np.sqrt(rms.var + normalization.NORM_EPS), -10.0, 10.0)
        return scaled, normalization.RewardScaler(np.where(dones, 0.0, g), rms)


class GNotResetAtTruncationInTheCase:
    """scale_reward resetting G at terminations only, stepping through reward_scaling's flags."""

    def __init__(self):
        self.t, self.terminated = 0, golden_inputs("reward_scaling")["terminated"]

    def __call__(self, scaler, rewards, dones, gamma):
        t, self.t = self.t, self.t + 1
        return normalization.scale_reward(scaler, rewards, self.terminated[t], gamma)


class ClippedActionStored(Faulty):
    def policy(self, params):
        act = REFERENCE.policy(params)

        def clipped(obs, rng):
            action, _, v = act(obs, rng)
            action = np.clip(action, TRACE["action_low"], TRACE["action_high"])
            return action, log_prob(action, policy_mean(params, obs), params["log_std"]), v
        return clipped


def _next_values(replace):
    def perturb(outputs):
        nv = outputs["iteration/rollout/next_values"]
        following = np.concatenate([outputs["iteration/rollout/values_old"][1:], nv[-1:]])
        replace(nv, following)
    return perturb


def _reset_value(nv, following):
    nv[DONE[:-1].nonzero()] = following[DONE[:-1].nonzero()]


def _zero_at_truncation(nv, following):
    nv[TRACE["env/truncated"] & ~TRACE["env/terminated"]] = 0.0


def _strict_clip_bounds(ratio, adv, clip_coef):
    pg1 = -adv * ratio
    pg2 = -adv * np.clip(ratio, 1.0 - clip_coef, 1.0 + clip_coef)
    w = losses.max_tie_weight(pg1, pg2)
    in_range = (ratio > 1.0 - clip_coef) & (ratio < 1.0 + clip_coef)
    return np.maximum(pg1, pg2), -adv * (w + (1.0 - w) * in_range)


def _open_value_clip(v, values_old, returns, clip_coef, clip_vloss):
    err = v - returns
    delta = v - values_old
    err_c = values_old + np.clip(delta, -clip_coef, clip_coef) - returns
    l1, l2 = err * err, err_c * err_c
    w = losses.max_tie_weight(l1, l2)
    in_range = (delta > -clip_coef) & (delta < clip_coef)
    return np.maximum(l1, l2), 2.0 * (w * err + (1.0 - w) * err_c * in_range)


def _tie_weight_one(x, y):
    return np.where(x >= y, 1.0, 0.0).astype(x.dtype)


def _ddof0(adv):
    return (adv - adv.mean()) / (adv.std() + losses.ADV_EPS)


def _eps_inside_sqrt(outputs):
    x = golden_inputs("adam_step")
    t = x["t"] + 1
    for name in [k.split("/", 2)[2] for k in outputs if k.startswith("adam_step/params_after/")]:
        m, v = outputs[f"adam_step/m_after/{name}"], outputs[f"adam_step/v_after/{name}"]
        m_hat, v_hat = m / (1 - ADAM_BETA1 ** t), v / (1 - ADAM_BETA2 ** t)
        outputs[f"adam_step/params_after/{name}"] = x[f"params/{name}"] - x["lr"] * m_hat / np.sqrt(v_hat + ADAM_EPS)


def _reshaped_weights(outputs):
    """A port that loads each (in, out) weight into its (out, in) tensor with
    reshape, steps Adam elementwise and writes the transpose back."""
    for key in [k for k in outputs if k.startswith("adam_step/params_after/") and ".W" in k]:
        w = outputs[key]
        outputs[key] = w.reshape(w.shape[::-1]).T


def _sign_flip(outputs):
    outputs["ppo_loss/grads/v.W1"] = -outputs["ppo_loss/grads/v.W1"]


def _orthogonal_without_sign_fix(rng, n_in, n_out, gain):
    g = rng.standard_normal((n_out, n_in))
    if n_out < n_in:
        g = g.T
    q, _ = np.linalg.qr(g)
    return gain * (q.T if n_out < n_in else q).T


def _orthogonal_on_in_out(rng, n_in, n_out, gain):
    """The algorithm run on the draw as an (in, out) matrix, stored as it comes out."""
    g = rng.standard_normal((n_out, n_in)).T  # (in, out)
    rows, cols = g.shape
    q, r = np.linalg.qr(g.T if rows < cols else g)
    q = q * np.sign(np.diag(r))
    return gain * (q.T if rows < cols else q)


def _lr_from_k(iteration_, num_iterations, lr0, anneal):
    return (1.0 - iteration_ / num_iterations) * lr0 if anneal else lr0


FAULTS = {
    # name: ({(module, attribute): replacement}, perturb, first failing tensor, text of the cause)
    "reset observations not merged": ({(iteration, "REFERENCE"): ResetsNotMerged}, None,
                                      "iteration/rollout/obs", "reset observations not merged"),
    "statistics merged after normalising": ({(iteration, "REFERENCE"): MergedAfterNormalising}, None,
                                            "iteration/rollout/obs", "merged after normalising"),
    "G not reset at a truncation": ({(iteration, "REFERENCE"): GNotResetAtTruncation,
                                     (cases, "scale_reward"): GNotResetAtTruncationInTheCase}, None,
                                    "reward_scaling/scaled", "G not reset to 0 at a truncation"),
    "rewards scaled by the std of rewards": ({(iteration, "REFERENCE"): RewardsScaledByTheirOwnStd,
                                              (cases, "scale_reward"): RewardsScaledByTheirOwnStd.scale_reward}, None,
                                             "reward_scaling/scaled", "not of the rewards"),
    "the clipped action stored": ({(iteration, "REFERENCE"): ClippedActionStored}, None,
                                  "iteration/rollout/actions", "clipped actions"),
    "V(reset obs) for V(final obs)": ({}, _next_values(_reset_value), "iteration/rollout/next_values",
                                      "value of the next step's (reset) observation"),
    "0 for V(final obs) at a truncation": ({}, _next_values(_zero_at_truncation), "iteration/rollout/next_values",
                                           "0 at truncations"),
    "learning rate annealed from k": ({(iteration, "learning_rate"): _lr_from_k, (cases, "learning_rate"): _lr_from_k},
                                      None, "lr_schedule/lr_annealed", "annealed from k instead of k - 1"),
    "strict < at the clip bound": ({(losses, "clipped_surrogate"): _strict_clip_bounds}, None,
                                   "ppo_loss_kinks/grads/pi.W2", "closed range"),
    "tie weight 1 instead of 0.5": ({(losses, "max_tie_weight"): _tie_weight_one}, None,
                                    "ppo_loss_kinks/grads/v.W2", "half and half"),
    "value clip range open": ({(losses, "value_loss_terms"): _open_value_clip}, None,
                              "ppo_loss_kinks/grads/v.W2", "the value clip"),
    "advantages normalised with ddof 0": ({(losses, "normalize_advantages"): _ddof0}, None, "ppo_loss/loss",
                                          "ddof 0"),
    "Adam's eps inside the square root": ({}, _eps_inside_sqrt, "adam_step/params_after/pi.W0", "eps inside"),
    "weights loaded with reshape, not transpose": ({}, _reshaped_weights, "adam_step/params_after/pi.W0",
                                                   "reshape where a transpose belongs"),
    "a gradient with its sign flipped": ({}, _sign_flip, "ppo_loss/grads/v.W1", "sign flipped"),
    "observations clipped at 5": ({(normalization, "OBS_CLIP"): 5.0}, None, "normalization/normalized",
                                  "clipped at +-5"),
    "orthogonal init without the sign fix": ({(mlp, "orthogonal"): _orthogonal_without_sign_fix}, None,
                                             "init/params/pi.W0", "sign fix is missing"),
    # For the (5, 64) and (64, 3) layers both shapes give the same Q; the 64 x 64 layers tell.
    "orthogonal init on the (in, out) shape": ({(mlp, "orthogonal"): _orthogonal_on_in_out}, None,
                                               "init/params/pi.W1", "not of its (in, out) transpose"),
}
SECTIONS = {  # each fault's section of docs/porting.md
    "reset observations not merged": "docs/porting.md §13",
    "statistics merged after normalising": "docs/porting.md §13",
    "G not reset at a truncation": "docs/porting.md §13",
    "rewards scaled by the std of rewards": "docs/porting.md §13",
    "the clipped action stored": "docs/porting.md §12",
    "V(reset obs) for V(final obs)": "docs/porting.md §11",
    "0 for V(final obs) at a truncation": "docs/porting.md §11",
    "learning rate annealed from k": "docs/porting.md §14",
    "strict < at the clip bound": "docs/porting.md §7",
    "tie weight 1 instead of 0.5": "docs/porting.md §7",
    "value clip range open": "docs/porting.md §7",
    "advantages normalised with ddof 0": "docs/porting.md §6",
    "Adam's eps inside the square root": "docs/porting.md §8",
    "weights loaded with reshape, not transpose": "docs/porting.md §1",
    "a gradient with its sign flipped": "docs/porting.md §17",
    "observations clipped at 5": "docs/porting.md §13",
    "orthogonal init without the sign fix": "docs/porting.md §4",
    "orthogonal init on the (in, out) shape": "docs/porting.md §4",
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_planted_fault_fails_named_with_its_likely_cause(tmp_path, check_port_cli, monkeypatch, fault):
    replacements, perturb, first, cause = FAULTS[fault]
    for (module, name), fn in replacements.items():
        monkeypatch.setattr(module, name, fn() if isinstance(fn, type) else fn)  # a class: a fresh instance
    path = core_port(tmp_path, perturb)
    report = port_report(GOLDEN_DIR, path)
    assert not report.ok
    assert report.first_failure.key == first, report.first_failure.message
    assert report.first_failure.cause and cause in report.first_failure.cause
    assert f"({SECTIONS[fault]})" in report.first_failure.cause
    code, _, err = check_port_cli(GOLDEN_DIR, path)
    assert code == 1 and f"look first at the earliest in the computation: {first}" in err and "likely cause" in err


def test_the_core_port_passes_and_no_cause_is_named_without_a_fault(tmp_path):
    report = port_report(GOLDEN_DIR, core_port(tmp_path))
    assert report.ok and not any(r.cause for r in report.results)


def test_a_fault_without_a_known_signature_names_no_cause(tmp_path):
    """A gradient 1 % off is a failure with no pattern: no cause is guessed."""
    def perturb(outputs):
        outputs["ppo_loss/grads/v.W1"] = outputs["ppo_loss/grads/v.W1"] * 1.01
    report = port_report(GOLDEN_DIR, core_port(tmp_path, perturb))
    assert [r.key for r in report.failures] == ["ppo_loss/grads/v.W1"] and report.first_failure.cause is None


def test_gradients_are_reported_in_backpropagations_order(tmp_path):
    """Faults in pi.W0 and pi.W2: the output layer's gradient is the one to look at first."""
    def perturb(outputs):
        for name in ("pi.W0", "pi.W2"):
            outputs[f"ppo_loss/grads/{name}"] = outputs[f"ppo_loss/grads/{name}"] * 1.01
    report = port_report(GOLDEN_DIR, core_port(tmp_path, perturb))
    assert [r.key for r in report.failures] == ["ppo_loss/grads/pi.W2", "ppo_loss/grads/pi.W0"]
    names = [r.name for r in report.results if r.case == "ppo_loss" and r.name.startswith("grads/")]
    assert names[0] == "grads/pi.W2" and names[5] == "grads/pi.b0" and names[-1] == "grads/log_std"


@pytest.mark.parametrize("fault", ["G not reset at a truncation", "rewards scaled by the std of rewards",
                                   "learning rate annealed from k"])
def test_the_iteration_case_names_the_cause_too(tmp_path, monkeypatch, fault):
    """The same faults planted in the iteration case alone are named there."""
    replacements, _, _, cause = FAULTS[fault]
    for (module, name), fn in replacements.items():
        if module is iteration:
            monkeypatch.setattr(module, name, fn() if isinstance(fn, type) else fn)
    report = port_report(GOLDEN_DIR, core_port(tmp_path))
    assert {r.case for r in report.failures} == {"iteration"}
    assert cause in report.first_failure.cause
