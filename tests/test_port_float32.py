"""``ppo-ref check-port --float32``: a correct float32 computation of the golden
cases (ppo_ref.port.float32) passes; float32 computations with a planted fault
fail, naming the tensor; the tolerance is the one the measurement in
docs/porting.md §17 gives, and that table is the one the measurement prints."""

import math
import os

import numpy as np
import pytest

from ppo_ref import numerics
from ppo_ref.port import float32
from ppo_ref.port.cases import CASES
from ppo_ref.port.check import FLOAT32_MARGIN, FLOAT32_NUDGE_MARGIN, FLOAT32_TOL, check_port, port_report
from ppo_ref.port.format import load_case, read_index

GOLDEN_DIR = os.path.join(os.path.dirname(__file__), "golden")
PORTING_MD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "porting.md")


def float32_port(tmp_path):
    """The float32 computation of every case, written as a port writes it; a case
    whose computation raises (a faulty port that crashes there) writes nothing."""
    outputs, crashed = {}, []
    for case in read_index(GOLDEN_DIR)["cases"]:
        try:
            computed = float32.compute(case, load_case(GOLDEN_DIR, case))
        except ValueError:
            crashed.append(case["name"])
            continue
        outputs.update({f"{case['name']}/{k}": a for k, a in computed.items()})
    path = tmp_path / "outputs.npz"
    np.savez(path, **outputs)
    return path, outputs, crashed


def test_the_core_in_float32_stays_float32_and_passes_float32_check(tmp_path):
    """What docs/porting.md §17 says: ppo_ref's core on float32 inputs (what
    ``train --dtype float32`` computes with) keeps every array float32, and its
    outputs pass ``check-port --float32``, as the independent float32 module's do."""
    index = {c["name"]: c for c in read_index(GOLDEN_DIR)["cases"]}
    outputs = {}
    for case in CASES:
        entry = index[case.name]
        arrays = load_case(GOLDEN_DIR, entry)
        inputs = {a["name"]: arrays[a["name"]].astype(np.float32) if arrays[a["name"]].dtype == np.float64
                  else arrays[a["name"]] for a in entry["arrays"] if a["role"] == "input"}
        for name, arr, _ in case.compute(inputs):
            arr = np.asarray(arr)
            if arr.ndim:  # arrays; the scalars (losses, diagnostics, norms) are Python floats
                assert arr.dtype != np.float64, f"{case.name}/{name}"
            outputs[f"{case.name}/{name}"] = arr.astype(np.float32) if arr.dtype == np.float64 else arr
    path = tmp_path / "outputs.npz"
    np.savez(path, **outputs)
    assert check_port(GOLDEN_DIR, path, float32=True) == len(outputs)


def test_the_float32_computation_is_float32_throughout(tmp_path, golden_outputs):
    _, outputs, crashed = float32_port(tmp_path)
    assert not crashed
    assert set(outputs) == set(golden_outputs)
    assert {a.dtype.name for a in outputs.values()} == {"float32", "int64"}


def test_a_correct_float32_port_passes_with_float32_only(tmp_path, check_port_cli):
    path, outputs, _ = float32_port(tmp_path)
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
    """FLOAT32_TOL is the larger of FLOAT32_MARGIN times the measured worst and
    FLOAT32_NUDGE_MARGIN times the worst over runs on inputs nudged by one ulp,
    rounded up to one significant digit."""
    worst = max(err for _, _, err in float32.measure(GOLDEN_DIR))
    rng = np.random.default_rng(float32.NUDGE_SEED)
    nudged = max(err for _ in range(float32.NUDGE_TRIALS) for _, _, err in float32.measure(GOLDEN_DIR, rng))
    assert worst < nudged
    assert FLOAT32_TOL == pytest.approx(_round_up_one_digit(max(FLOAT32_MARGIN * worst,
                                                                FLOAT32_NUDGE_MARGIN * nudged)), rel=1e-12)


@portable_only
def test_the_docs_show_the_measurement_the_module_prints():
    text = open(PORTING_MD, encoding="utf-8").read()
    assert "python -m ppo_ref.port.float32 tests/golden" in text
    assert float32.table(GOLDEN_DIR) in text


def test_a_fault_within_a_loose_absolute_tolerance_fails_on_the_tensors_scale(tmp_path):
    """Adam's second moments are about 1e-6: with rtol 1e-5 and atol 1e-6 a v_after
    5 % small passes; on its own scale it fails."""
    _, outputs, _ = float32_port(tmp_path)
    for key in outputs:
        if key.startswith("adam_step/v_after/"):
            outputs[key] = outputs[key] * np.float32(0.95)
    path = tmp_path / "faulty.npz"
    np.savez(path, **outputs)
    assert check_port(GOLDEN_DIR, path, rtol=1e-5, atol=1e-6) == len(outputs)
    report = port_report(GOLDEN_DIR, path, float32=True)
    assert {r.key for r in report.failures} == {k for k in outputs if k.startswith("adam_step/v_after/")}
    assert report.first_failure.key == "adam_step/v_after/pi.W0"
    assert report.first_failure.max_rel == pytest.approx(0.05, rel=1e-3)


def _ddof0(adv):
    return adv.std()


def _identity(x):
    return x


def _ones(y):
    return np.ones_like(y)


def _wrong_axis(dlogprob, dlp_dlog_std):
    return np.sum(dlogprob[:, None] * dlp_dlog_std, axis=1)


def _eps_inside_sqrt(v, bias_correction2_sqrt, eps):
    return np.sqrt(v / bias_correction2_sqrt**2 + eps)


FAULTS = {
    # name: (replacements in ppo_ref.port.float32, first failing tensor, cases the port crashes on)
    "advantage std without ddof 1": ({"adv_std": _ddof0}, "ppo_loss/loss", []),
    "missing tanh": ({"activation": _identity, "activation_grad": _ones}, "ppo_loss/loss", []),
    "log-std gradient summed over the action axis": ({"log_std_grad": _wrong_axis}, "ppo_loss/grads/log_std",
                                                     ["ppo_update"]),
    "Adam's eps inside the square root": ({"adam_denominator": _eps_inside_sqrt}, "adam_step/params_after/pi.W0",
                                          []),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_float32_port_with_a_planted_fault_fails_naming_the_tensor(tmp_path, check_port_cli, monkeypatch, fault):
    replacements, first, crashes = FAULTS[fault]
    for name, fn in replacements.items():
        monkeypatch.setattr(float32, name, fn)
    path, outputs, crashed = float32_port(tmp_path)
    assert crashed == crashes
    report = port_report(GOLDEN_DIR, path, float32=True)
    assert report.first_failure.key == first
    if report.first_failure.status == "fail":
        assert report.first_failure.max_rel > 30 * FLOAT32_TOL
    else:  # the wrong axis gives the samples' axis: (M,) for (A,)
        assert report.first_failure.message.startswith(f"{first} has shape (8,); expected (3,)")
    assert {r.case for r in report.failures} == {first.split("/")[0], *crashes, *(
        ["ppo_update"] if first.startswith(("ppo_loss", "adam_step")) else [])}
    code, _, err = check_port_cli(GOLDEN_DIR, path, "--float32")
    assert code == 1 and f"look first at the earliest in the computation: {first}" in err
