"""``ppo-ref check-port --float32``: the reference core computing the golden cases
in float32 (ppo_ref.port.measure) passes; the same computation with a port's
typical fault planted in the core (a core function patched in the test, or a
correct output perturbed as the fault would) fails, naming the tensor; the
tolerance is the one the measurement in docs/porting.md §17 gives, and that table
is the one the measurement prints."""

import math
import os

import numpy as np
import pytest

from ppo_ref import numerics
from ppo_ref.core import losses, mlp
from ppo_ref.core.optim import ADAM_BETA1, ADAM_BETA2, ADAM_EPS
from ppo_ref.port import measure
from ppo_ref.port.cases import CASES
from ppo_ref.port.check import (FLOAT32_CASE_TOLS, FLOAT32_ITERATION_TOL, FLOAT32_MARGIN, FLOAT32_NUDGE_MARGIN,
                                 FLOAT32_TOL, check_port, float32_tol, port_report)
from ppo_ref.port.format import load_case, read_index

from conftest import GOLDEN_DIR

PORTING_MD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "porting.md")


def float32_port(tmp_path, perturb=None):
    """The core's float32 computation of every case, written as a port writes it;
    ``perturb(outputs)`` changes them as a faulty port would before they are written."""
    outputs = measure.port_outputs(GOLDEN_DIR)
    if perturb is not None:
        perturb(outputs)
    path = tmp_path / "outputs.npz"
    np.savez(path, **outputs)
    return path, outputs


def test_the_core_in_float32_stays_float32_and_passes_float32_check(tmp_path):
    """What docs/porting.md §17 says: ppo_ref's core on float32 inputs (what
    ``train --dtype float32`` computes with) keeps every array float32, and its
    outputs pass ``check-port --float32``."""
    index = {c["name"]: c for c in read_index(GOLDEN_DIR)["cases"]}
    outputs = {}
    for case in CASES:
        entry = index[case.name]
        arrays = load_case(GOLDEN_DIR, entry)
        inputs = {a["name"]: arrays[a["name"]].astype(np.float32) if arrays[a["name"]].dtype == np.float64
                  else arrays[a["name"]] for a in entry["arrays"] if a["role"] == "input"}
        for name, arr, _ in case.compute(inputs):
            arr = np.asarray(arr)
            if arr.ndim and not case.keeps_float64(name):  # the scalars (losses, diagnostics) are Python floats
                assert arr.dtype != np.float64, f"{case.name}/{name}"
            outputs[f"{case.name}/{name}"] = arr.astype(np.float32) if arr.dtype == np.float64 else arr
    path = tmp_path / "outputs.npz"
    np.savez(path, **outputs)
    assert check_port(GOLDEN_DIR, path, float32=True) == len(outputs)


def test_the_float32_computation_is_float32_throughout(tmp_path, golden_outputs):
    _, outputs = float32_port(tmp_path)
    assert set(outputs) == set(golden_outputs)
    assert {a.dtype.name for a in outputs.values()} == {"float32", "int64"}


def test_a_correct_float32_port_passes_with_float32_only(tmp_path, check_port_cli):
    path, outputs = float32_port(tmp_path)
    assert check_port(GOLDEN_DIR, path, float32=True) == len(outputs)
    code, out, err = check_port_cli(GOLDEN_DIR, path, "--float32")
    assert code == 0, err
    assert f"{len(outputs)} tensors within float32: max |port - golden| <= {FLOAT32_TOL:g} max |golden|" in out
    code, _, err = check_port_cli(GOLDEN_DIR, path)
    assert code == 1 and err.rstrip().endswith("the outputs are float32: check them with --float32")


portable_only = pytest.mark.skipif(not numerics.is_portable(), reason="the float32 measurement is the committed "
                                   "one in portable numerics only (SPEC 8.2)")


def _round_up_one_digit(x):
    exponent = math.floor(math.log10(x))
    return math.ceil(x / 10**exponent) * 10**exponent


@portable_only
def test_the_tolerance_is_the_measured_worst_times_the_margin():
    """FLOAT32_TOL (and FLOAT32_ITERATION_TOL, for the iteration case alone) is the
    larger of FLOAT32_MARGIN times the measured worst and FLOAT32_NUDGE_MARGIN times
    the worst over runs on inputs nudged by one ulp, rounded up to one significant
    digit."""
    rows = measure.measure(GOLDEN_DIR)
    rng = np.random.default_rng(measure.NUDGE_SEED)
    nudged_rows = [row for _ in range(measure.NUDGE_TRIALS) for row in measure.measure(GOLDEN_DIR, rng)]
    cases = list(dict.fromkeys(case for case, _, _ in rows))
    groups = measure.tolerance_groups(cases, FLOAT32_CASE_TOLS, FLOAT32_TOL)
    assert [tol for _, _, tol in groups] == [FLOAT32_TOL, FLOAT32_ITERATION_TOL]
    for _, group, tol in groups:
        worst = max(err for case, _, err in rows if case in group)
        nudged = max(err for case, _, err in nudged_rows if case in group)
        assert worst < nudged
        assert tol == pytest.approx(_round_up_one_digit(max(FLOAT32_MARGIN * worst, FLOAT32_NUDGE_MARGIN * nudged)),
                                    rel=1e-12)


@portable_only
def test_the_docs_show_the_measurement_the_module_prints():
    text = open(PORTING_MD, encoding="utf-8").read()
    assert "python -m ppo_ref.port.measure tests/golden" in text
    assert measure.table(GOLDEN_DIR) in text


def test_a_fault_within_a_loose_absolute_tolerance_fails_on_the_tensors_scale(tmp_path):
    """Adam's second moments are about 1e-6: with rtol 1e-5 and atol 1e-6 a v_after
    5 % small passes; on its own scale it fails."""
    _, outputs = float32_port(tmp_path)
    for key in outputs:
        if key.startswith("adam_step/v_after/"):
            outputs[key] = outputs[key] * np.float32(0.95)
    path = tmp_path / "faulty.npz"
    np.savez(path, **outputs)
    pieces = [c.name for c in CASES if c.name != "iteration"]  # a whole iteration in float32 fails these anyway
    assert check_port(GOLDEN_DIR, path, rtol=1e-5, atol=1e-6, cases=pieces) == sum(
        k.split("/")[0] in pieces for k in outputs)
    report = port_report(GOLDEN_DIR, path, float32=True)
    assert {r.key for r in report.failures} == {k for k in outputs if k.startswith("adam_step/v_after/")}
    assert report.first_failure.key == "adam_step/v_after/pi.W0"
    assert report.first_failure.max_rel == pytest.approx(0.05, rel=1e-3)


def _ddof0(adv):
    return (adv - adv.mean()) / (adv.std() + losses.ADV_EPS)


def _no_tanh(x):
    return x, None  # no cache: the backward pass then skips the derivative too


def _log_std_grad_without_minus_one(a, mu, log_std):
    var = np.exp(2.0 * log_std)
    diff = a - mu
    return diff / var, diff * diff / var


def _eps_inside_sqrt(outputs):
    """adam_step's parameters as a port with ``sqrt(v_hat + eps)`` writes them, from
    the correct moments (which that fault leaves right)."""
    x = load_case(GOLDEN_DIR, next(c for c in read_index(GOLDEN_DIR)["cases"] if c["name"] == "adam_step"))
    t, lr = np.float32(x["t"] + 1), np.float32(x["lr"])
    for key in [k for k in outputs if k.startswith("adam_step/params_after/")]:
        name = key.split("/", 2)[2]
        m, v = outputs[f"adam_step/m_after/{name}"], outputs[f"adam_step/v_after/{name}"]
        m_hat, v_hat = m / (1 - np.float32(ADAM_BETA1) ** t), v / (1 - np.float32(ADAM_BETA2) ** t)
        outputs[key] = x[f"params/{name}"].astype(np.float32) - lr * m_hat / np.sqrt(v_hat + np.float32(ADAM_EPS))


KINK_CASES = {"ppo_loss_kinks", "ppo_update_kinks"}
LOSS_CASES = {"ppo_loss", "ppo_update", "iteration"} | KINK_CASES
FAULTS = {
    # name: (core functions replaced, outputs perturbed, first failing tensor, the cases that fail)
    "advantage std without ddof 1": ({(losses, "normalize_advantages"): _ddof0}, None, "ppo_loss/loss",
                                     LOSS_CASES - KINK_CASES),  # the kink cases do not normalise advantages
    "missing tanh": ({(mlp, "tanh_forward"): _no_tanh}, None, "ppo_loss/loss", LOSS_CASES),
    "log-std gradient of the log-prob without its -1": (
        {(losses, "log_prob_grads"): _log_std_grad_without_minus_one}, None, "ppo_loss/grads/log_std",
        LOSS_CASES),
    "Adam's eps inside the square root": ({}, _eps_inside_sqrt, "adam_step/params_after/pi.W0", {"adam_step"}),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_float32_port_with_a_planted_fault_fails_naming_the_tensor(tmp_path, check_port_cli, monkeypatch, fault):
    replacements, perturb, first, failing = FAULTS[fault]
    for (module, name), fn in replacements.items():
        monkeypatch.setattr(module, name, fn)
    path, _ = float32_port(tmp_path, perturb)
    report = port_report(GOLDEN_DIR, path, float32=True)
    assert report.first_failure.key == first
    assert report.first_failure.max_rel > 30 * float32_tol(report.first_failure.case)
    assert {r.case for r in report.failures} == failing
    code, _, err = check_port_cli(GOLDEN_DIR, path, "--float32")
    assert code == 1 and f"look first at the earliest in the computation: {first}" in err
