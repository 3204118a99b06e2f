"""ppo_ref.port.check and ``ppo-ref check-port``: the golden outputs pass, and a
wrong, missing or misshapen tensor is reported by name, at its first bad element."""

import os
import shutil

import numpy as np
import pytest

from ppo_ref.cli import main
from ppo_ref.port.format import GoldenError, load_case, read_index
from ppo_ref.port.check import DEFAULT_RTOL, PortMismatch, check_port

GOLDEN_DIR = os.path.join(os.path.dirname(__file__), "golden")


@pytest.fixture(scope="module")
def golden_outputs():
    """Every output of every case, keyed '<case>/<name>' as a port writes them."""
    out = {}
    for case in read_index(GOLDEN_DIR)["cases"]:
        arrays = load_case(GOLDEN_DIR, case)
        out.update({f"{case['name']}/{a['name']}": arrays[a["name"]] for a in case["arrays"] if a["role"] == "output"})
    return out


def write(tmp_path, arrays):
    path = tmp_path / "outputs.npz"
    np.savez(path, **arrays)
    return path


def run_cli(capsys, *args):
    """``ppo-ref check-port ARGS`` in this process: (exit code, stdout, stderr);
    an error the CLI reports by exiting counts as that exit code."""
    try:
        code = main(["check-port", *map(str, args)])
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out, out.err


def largest_element(arr):
    return np.unravel_index(np.argmax(np.abs(arr)), arr.shape)


def test_golden_outputs_pass(tmp_path, capsys, golden_outputs):
    path = write(tmp_path, golden_outputs)
    assert check_port(GOLDEN_DIR, path) == len(golden_outputs)
    code, out, err = run_cli(capsys, GOLDEN_DIR, path)
    assert code == 0, err
    assert f"{len(golden_outputs)} tensors" in out


def test_element_off_by_1e_6_relative_is_rejected_with_its_name_and_index(tmp_path, capsys, golden_outputs):
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
    code, _, err = run_cli(capsys, GOLDEN_DIR, path)
    assert code == 1
    assert err.count("\n") == 1 and f"{key}[{i}, {j}]" in err and "1e-06" in err


def test_first_mismatch_in_index_order_is_reported(tmp_path, golden_outputs):
    outputs = {k: v.copy() for k, v in golden_outputs.items()}
    outputs["ppo_update/t_after"] = outputs["ppo_update/t_after"] + 1
    outputs["gae_bootstrap/returns"][3, 1] = np.nan
    with pytest.raises(PortMismatch, match=r"^gae_bootstrap/returns\[3, 1\]: port nan"):
        check_port(GOLDEN_DIR, write(tmp_path, outputs))


def test_missing_tensor_is_reported(tmp_path, capsys, golden_outputs):
    key = "ppo_loss/grads/v.b2"
    outputs = {k: v for k, v in golden_outputs.items() if k != key}
    path = write(tmp_path, outputs)
    with pytest.raises(PortMismatch, match=rf"^{key} is missing from .*outputs\.npz") as err:
        check_port(GOLDEN_DIR, path)
    assert err.value.key == key and err.value.index is None
    code, _, err = run_cli(capsys, GOLDEN_DIR, path)
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


def test_one_case_can_be_checked_alone(tmp_path, capsys, golden_outputs):
    outputs = {k: v for k, v in golden_outputs.items() if k.startswith("gaussian/")}
    path = write(tmp_path, outputs)
    assert check_port(GOLDEN_DIR, path, cases=["gaussian"]) == len(outputs)
    code, _, err = run_cli(capsys, GOLDEN_DIR, path, "--case", "gaussian")
    assert code == 0, err
    with pytest.raises(GoldenError, match="no case named gausian"):
        check_port(GOLDEN_DIR, path, cases=["gausian"])


def test_damaged_vectors_and_unreadable_outputs_are_errors_not_mismatches(tmp_path, capsys, golden_outputs):
    vectors = tmp_path / "vectors"
    shutil.copytree(GOLDEN_DIR, vectors)
    data = bytearray((vectors / "gaussian.npz").read_bytes())
    data[len(data) // 2] ^= 1  # one bit of one stored number
    (vectors / "gaussian.npz").write_bytes(bytes(data))
    path = write(tmp_path, golden_outputs)
    with pytest.raises(GoldenError, match="gaussian.npz does not match its sha256"):
        check_port(vectors, path)
    code, _, err = run_cli(capsys, GOLDEN_DIR, tmp_path / "missing.npz")
    assert code == 2 and err.count("\n") == 1 and "missing.npz" in err
