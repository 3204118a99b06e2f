"""ppo_ref.port.check and ``ppo-ref check-port``: the golden outputs pass; a wrong,
missing or misshapen tensor is reported by name, at its worst element; the report
covers every tensor and names the failure to look at first; --first stops at it;
--list prints what a port writes; the minimal example of docs/porting.md runs.
(The float32 criterion is in tests/test_port_float32.py.)"""

import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from ppo_ref.port.format import GoldenError, load_case, read_index
from ppo_ref.port.check import DEFAULT_RTOL, PortMismatch, check_port, compare, port_report

from conftest import GOLDEN_DIR

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "tests", "port_example.py")
EXAMPLE_CASES = ("gaussian", "gae_bootstrap", "gae_no_bootstrap")


def write(tmp_path, arrays):
    path = tmp_path / "outputs.npz"
    np.savez(path, **arrays)
    return path


def largest_element(arr):
    return np.unravel_index(np.argmax(np.abs(arr)), arr.shape)


def test_golden_outputs_pass(tmp_path, check_port_cli, golden_outputs):
    path = write(tmp_path, golden_outputs)
    assert check_port(GOLDEN_DIR, path) == len(golden_outputs)
    code, out, err = check_port_cli(GOLDEN_DIR, path)
    assert code == 0, err
    assert f"{len(golden_outputs)} tensors" in out


def test_element_off_by_1e_6_relative_is_rejected_with_its_name_and_index(tmp_path, check_port_cli, golden_outputs):
    key = "ppo_update/params_after/pi.W1"
    outputs = {k: v.copy() for k, v in golden_outputs.items()}
    i, j = largest_element(outputs[key])
    outputs[key][i, j] *= 1.0 + 1e-6
    path = write(tmp_path, outputs)
    with pytest.raises(PortMismatch) as err:
        check_port(GOLDEN_DIR, path)
    assert err.value.key == key and err.value.index == (i, j)
    assert err.value.rel_error == pytest.approx(1e-6, rel=1e-6)
    assert f"{key}[{i}, {j}]" in str(err.value)
    for flags in ((), ("--first",)):
        code, _, err = check_port_cli(GOLDEN_DIR, path, *flags)
        assert code == 1
        assert err.count("\n") == 1 and f"{key}[{i}, {j}]" in err and "1e-06" in err


def test_first_mismatch_in_index_order_is_reported(tmp_path, golden_outputs):
    outputs = {k: v.copy() for k, v in golden_outputs.items()}
    outputs["ppo_update/t_after"] = outputs["ppo_update/t_after"] + 1
    outputs["gae_bootstrap/returns"][3, 1] = np.nan
    with pytest.raises(PortMismatch, match=r"^gae_bootstrap/returns\[3, 1\]: port nan"):
        check_port(GOLDEN_DIR, write(tmp_path, outputs))


def test_missing_tensor_is_reported(tmp_path, check_port_cli, golden_outputs):
    key = "ppo_loss/grads/v.b2"
    outputs = {k: v for k, v in golden_outputs.items() if k != key}
    path = write(tmp_path, outputs)
    with pytest.raises(PortMismatch, match=rf"^{key} is missing from .*outputs\.npz") as err:
        check_port(GOLDEN_DIR, path)
    assert err.value.key == key and err.value.index is None
    code, _, err = check_port_cli(GOLDEN_DIR, path)
    assert code == 1 and err.count("\n") == 1 and key in err


def test_wrong_shape_is_reported(tmp_path, golden_outputs):
    """A weight in PyTorch's (out, in) layout instead of ppo_ref's (in, out)."""
    key = "ppo_loss/grads/pi.W0"
    outputs = {**golden_outputs, key: golden_outputs[key].T}
    with pytest.raises(PortMismatch, match=rf"^{key} has shape \(64, 5\); expected \(5, 64\)"):
        check_port(GOLDEN_DIR, write(tmp_path, outputs))


def test_float32_port_passes_with_looser_tolerances_only(tmp_path, golden_outputs):
    """rtol and atol are the caller's: float32 rounding fails the float64 defaults."""
    outputs = {k: v.astype(np.float32) if v.dtype == np.float64 else v for k, v in golden_outputs.items()}
    path = write(tmp_path, outputs)
    with pytest.raises(PortMismatch):
        check_port(GOLDEN_DIR, path, rtol=DEFAULT_RTOL)
    assert check_port(GOLDEN_DIR, path, rtol=1e-6, atol=1e-30) == len(golden_outputs)


def test_one_case_can_be_checked_alone(tmp_path, check_port_cli, golden_outputs):
    outputs = {k: v for k, v in golden_outputs.items() if k.startswith("gaussian/")}
    path = write(tmp_path, outputs)
    assert check_port(GOLDEN_DIR, path, cases=["gaussian"]) == len(outputs)
    code, _, err = check_port_cli(GOLDEN_DIR, path, "--case", "gaussian")
    assert code == 0, err
    with pytest.raises(GoldenError, match="no case named gausian"):
        check_port(GOLDEN_DIR, path, cases=["gausian"])


def test_damaged_vectors_and_unreadable_outputs_are_errors_not_mismatches(tmp_path, check_port_cli, golden_outputs):
    vectors = tmp_path / "vectors"
    shutil.copytree(GOLDEN_DIR, vectors)
    data = bytearray((vectors / "gaussian.npz").read_bytes())
    data[len(data) // 2] ^= 1  # one bit of one stored number
    (vectors / "gaussian.npz").write_bytes(bytes(data))
    path = write(tmp_path, golden_outputs)
    with pytest.raises(GoldenError, match="gaussian.npz does not match its sha256"):
        check_port(vectors, path)
    code, _, err = check_port_cli(GOLDEN_DIR, tmp_path / "missing.npz")
    assert code == 2 and err.count("\n") == 1 and f"{tmp_path / 'missing.npz'}: no such file" in err
    code, _, err = check_port_cli(GOLDEN_DIR, tmp_path)
    assert code == 2 and err == f"ppo-ref: error: no port outputs at {tmp_path}: not a file\n"


def test_report_checks_every_tensor_and_names_the_earliest_failure(tmp_path, check_port_cli, golden_outputs):
    """Faults in ppo_update and then in ppo_loss's output layer: every tensor gets a
    row, and the one to look at first is ppo_loss's, earlier in the computation,
    though ppo_update's are written first."""
    outputs = {k: v.copy() for k, v in golden_outputs.items()}
    late, early = "ppo_update/params_after/v.W1", "ppo_loss/grads/pi.W2"
    outputs[late] *= 1.01
    outputs[early][0, 0] += 1e-3
    path = write(tmp_path, {late: outputs.pop(late), **outputs})
    report = port_report(GOLDEN_DIR, path)
    assert len(report.results) == len(golden_outputs) and not report.ok
    assert [r.key for r in report.failures] == [early, late]
    assert report.first_failure.key == early and report.first_failure.index == (0, 0)
    code, out, err = check_port_cli(GOLDEN_DIR, path)
    assert code == 1
    rows = {tuple(line.split()[:2]): line for line in out.splitlines()[1:len(golden_outputs) + 1]}
    assert len(rows) == len(golden_outputs)
    assert rows[("ppo_loss", "grads/pi.W2")].endswith(" [0, 0]       FAIL")
    assert rows[("ppo_update", "params_after/v.W1")].endswith(" FAIL")
    assert sum(line.endswith(" pass") for line in rows.values()) == len(golden_outputs) - 2
    assert err.count("\n") == 1 and "2 of" in err and f"look first at the earliest in the computation: {early}[0, 0]" in err
    with pytest.raises(PortMismatch) as first:
        check_port(GOLDEN_DIR, path)
    assert first.value.key == early
    code, out, err = check_port_cli(GOLDEN_DIR, path, "--first")
    assert code == 1 and out == "" and err.count("\n") == 1 and early in err and late not in err


def test_worst_element_is_named_not_the_first_failing_one(golden_outputs):
    """Off by a hair at [0, 0] and by 300 % at another element: the report names
    the 300 %, with the largest absolute and relative errors of the tensor."""
    key = "ppo_loss/grads/v.W1"
    golden = golden_outputs[key]
    port = golden.copy()
    port[0, 0] *= 1 + 1e-8
    i, j = largest_element(golden)
    port[i, j] *= 4.0
    result = compare(key, port, golden)
    assert not result.ok and result.index == (i, j)
    assert result.rel_error == pytest.approx(3.0) and result.max_rel == pytest.approx(3.0)
    assert result.max_abs == pytest.approx(3.0 * abs(golden[i, j]))
    assert result.message.startswith(f"{key}[{i}, {j}]: ")


def test_missing_and_unexpected_keys_are_listed(tmp_path, check_port_cli, golden_outputs):
    outputs = dict(golden_outputs)
    outputs["ppo_loss/grads/pi.w0"] = outputs.pop("ppo_loss/grads/pi.W0")  # a typo
    outputs["ppo_loss/debug"] = np.zeros(1, np.float32)  # no larger than t_after, the file's size limit
    del outputs["adam_step/t_after"]
    report = port_report(GOLDEN_DIR, write(tmp_path, outputs))
    assert [(r.key, r.status) for r in report.failures] == [("ppo_loss/grads/pi.W0", "missing"),
                                                           ("adam_step/t_after", "missing")]
    assert report.unexpected == ["ppo_loss/debug", "ppo_loss/grads/pi.w0 (did you mean ppo_loss/grads/pi.W0?)"]
    code, out, err = check_port_cli(GOLDEN_DIR, tmp_path / "outputs.npz")
    assert code == 1 and "(2 missing)" in err
    assert "ppo_loss/grads/pi.W0 is missing" in out and "ppo_loss/grads/pi.w0 (did you mean" in out
    assert re.search(r"^ppo_loss +grads/pi.W0 +- +- +- +MISSING$", out, re.M)


def test_unexpected_keys_alone_do_not_fail(tmp_path, check_port_cli, golden_outputs):
    outputs = {k: v for k, v in golden_outputs.items() if k.startswith("gaussian/")}
    path = write(tmp_path, {**outputs, "gaussian/scratch": np.ones(2)})
    code, out, _ = check_port_cli(GOLDEN_DIR, path, "--case", "gaussian")
    assert code == 0 and "1 key the index does not list (not checked):\n  gaussian/scratch" in out


@pytest.mark.parametrize("key", ["ppo_loss/grads/pi.W0", "ppo_update/params_after/v.W2"])
def test_transposed_weight_is_named_as_such(tmp_path, golden_outputs, key):
    """A weight in PyTorch's (out, in) layout: both shapes, and that it is the
    transpose (whose values match)."""
    golden = golden_outputs[key]
    report = port_report(GOLDEN_DIR, write(tmp_path, {**golden_outputs, key: golden.T}))
    (result,) = report.failures
    assert result.key == key and result.status == "shape"
    assert result.message == (f"{key} has shape {golden.T.shape}; expected {golden.shape}: the port's array is the "
                              "transpose of the golden one (PyTorch's (out, in) against ppo_ref's (in, out)), and "
                              "transposed it matches")


def test_transposed_square_weight_is_named_as_such(tmp_path, golden_outputs):
    """W1 is 64 x 64: no shape error, wrong values; the report says the transpose matches."""
    key = "ppo_loss/grads/v.W1"
    path = write(tmp_path, {**golden_outputs, key: golden_outputs[key].T.copy()})
    (result,) = port_report(GOLDEN_DIR, path).failures
    assert result.key == key and result.status == "fail"
    assert result.message.endswith("; the port's array transposed matches: it holds the golden array transposed "
                                   "(PyTorch's (out, in) against ppo_ref's (in, out))")


def test_list_prints_every_expected_key_with_shape_dtype_and_meaning(check_port_cli):
    code, out, err = check_port_cli("--list", GOLDEN_DIR)
    assert code == 0, err
    for case in read_index(GOLDEN_DIR)["cases"]:
        assert f"# {case['name']}: {case['description']}" in out
        for a in case["arrays"]:
            line = re.search(rf"^{re.escape(case['name'] + '/' + a['name'])} .*$", out, re.M)
            if a["role"] == "input":
                assert line is None
                continue
            fields = [f.strip() for f in line.group().split("  ") if f.strip()]
            assert fields[1:] == [str(tuple(a["shape"])), a["dtype"], a["meaning"]]
    code, out, _ = check_port_cli("--list", GOLDEN_DIR, "--case", "gaussian")
    assert code == 0 and "gaussian/log_prob" in out and "ppo_loss" not in out


def test_check_port_arguments_are_checked(check_port_cli, tmp_path, golden_outputs):
    path = write(tmp_path, golden_outputs)
    for args in (("--list", GOLDEN_DIR, path), (GOLDEN_DIR,), (GOLDEN_DIR, path, "--float32", "--rtol", "1e-3")):
        code, out, err = check_port_cli(*args)
        assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("ppo-ref: error: "), args


@pytest.mark.parametrize("flag, value", [("--atol", "inf"), ("--rtol", "nan"), ("--rtol", "-1e-9")])
def test_a_tolerance_that_is_not_finite_and_at_least_0_is_refused(check_port_cli, tmp_path, golden_outputs, flag,
                                                                    value):
    # --atol inf would pass any port that writes every key; a negative or NaN one, none.
    outputs = {k: np.zeros_like(v) for k, v in golden_outputs.items()}
    code, out, err = check_port_cli(GOLDEN_DIR, write(tmp_path, outputs), f"{flag}={value}")
    assert code == 2 and out == "", err
    assert err == f"ppo-ref: error: {flag} ({float(value)!r}) must be a finite number >= 0\n"


def test_the_minimal_example_runs_passes_and_is_quoted_whole_in_the_docs(tmp_path, check_port_cli):
    """docs/porting.md quotes tests/port_example.py whole; run as the docs say, its
    outputs pass with the default (float64) tolerances, and the other cases are
    reported missing."""
    source = open(EXAMPLE, encoding="utf-8").read()
    assert f"```python\n{source}```" in open(os.path.join(ROOT, "docs", "porting.md"), encoding="utf-8").read()
    out = tmp_path / "outputs.npz"
    proc = subprocess.run([sys.executable, EXAMPLE, GOLDEN_DIR, str(out)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert check_port(GOLDEN_DIR, out, cases=list(EXAMPLE_CASES)) == 11
    code, stdout, err = check_port_cli(GOLDEN_DIR, out, *(f"--case={c}" for c in EXAMPLE_CASES))
    assert code == 0 and "11 tensors within rtol 1e-09, atol 1e-15" in stdout, err
    report = port_report(GOLDEN_DIR, out)
    assert {r.case for r in report.failures} == {c["name"] for c in read_index(GOLDEN_DIR)["cases"]} - set(
        EXAMPLE_CASES)
    assert all(r.status == "missing" for r in report.failures)
