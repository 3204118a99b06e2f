"""Hostile checkpoints, golden vectors and port outputs, made from real ones, are
refused by the commands that read them in one line naming the member, at about
the memory a normal load takes.

Each kind of file gets two hostile members:

* a header declaring a 200,000 x 200,000 float64 array (320 GB) followed by a few
  bytes, the way a damaged or forged file would;
* a deflate bomb: a member declaring, and inflating to, 700 MB of zeros, which
  deflates to under 0.7 MB (building one takes about 2 s).

The commands run in this process (``ppo_ref.cli.main``), once to import what they
need and once under tracemalloc, whose peak (numpy's buffers are traced) must stay
below twice a normal load's peak plus 1 MB.
"""

import hashlib
import io
import json
import math
import os
import shutil
import tracemalloc
import zipfile

import numpy as np
import pytest
from numpy.lib import format as npy_format

from ppo_ref.cli import main
from ppo_ref.npzio import write_npz_atomic
from ppo_ref.port.format import INDEX_NAME, load_case, read_index
from ppo_ref.run import checkpoint as ckpt

from conftest import GOLDEN_DIR, train_tiny

pytestmark = pytest.mark.subprocess

HUGE = (200_000, 200_000)
BOMB_BYTES = 700_000_000
MARGIN = 1_000_000


# --- building hostile files -------------------------------------------------------------------------------

def npy_header(shape, dtype=np.float64):
    buf = io.BytesIO()
    npy_format.write_array_header_1_0(
        buf, {"descr": npy_format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape})
    return buf.getvalue()


def huge_header(zout, filename):
    """A member stored (as np.savez stores them) whose header declares a 200,000 x
    200,000 float64 array, followed by 64 bytes."""
    zout.writestr(filename, npy_header(HUGE) + bytes(64), compress_type=zipfile.ZIP_STORED)


def bomb(shape):
    """A writer of a deflated member declaring ``shape`` float64 and holding that many
    zero bytes, so that its zip entry agrees with its header."""
    nbytes = math.prod(shape) * 8

    def write(zout, filename):
        zeros = bytes(1 << 20)
        with zout.open(filename, "w", force_zip64=True) as f:
            f.write(npy_header(shape))
            for _ in range(nbytes // len(zeros)):
                f.write(zeros)
            f.write(bytes(nbytes % len(zeros)))

    return write


def rewrite_npz(src, dst, member, write):
    """Copy the .npz ``src`` to ``dst`` entry by entry, with ``member`` (no .npy)
    written by ``write(zipfile, filename)`` instead; other entries keep their bytes."""
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
        names = [info.filename for info in zin.infolist()]
        assert member + ".npy" in names
        for info in zin.infolist():
            if info.filename == member + ".npy":
                write(zout, info.filename)
            else:
                zout.writestr(info, zin.read(info))
    return dst


def bomb_shape(leading):
    """(leading, n) float64 of about 700 MB."""
    return (leading, BOMB_BYTES // (8 * leading))


# --- running the commands ---------------------------------------------------------------------------------

def run_cli(capsys, argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out, out.err


def traced_peak(fn):
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def refused(capsys, argv, *fragments):
    """Run ``ppo-ref ARGV`` (once to import and warm up, once traced); check that it
    exits with code 2 and one line ``ppo-ref: error: ...`` holding ``fragments``.
    Returns (the line, the traced peak)."""
    run_cli(capsys, argv)
    (code, out, err), peak = traced_peak(lambda: run_cli(capsys, argv))
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), err
    assert lines[0].startswith("ppo-ref: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert out == ""
    return lines[0], peak


def assert_near(peak, normal):
    assert peak < 2 * normal + MARGIN, f"peak {peak} bytes while refusing; a normal load peaks at {normal}"


def listing(folder):
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


# --- checkpoints ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """A real run directory: one iteration of Hopper-v4 (with simulator state)."""
    run_dir = tmp_path_factory.mktemp("hostile") / "real"
    train_tiny(run_dir)
    return run_dir


@pytest.fixture(scope="module")
def normal_checkpoint_peak(real_run):
    ckpt.load(real_run)
    _, peak = traced_peak(lambda: ckpt.load(real_run))
    return peak


def hostile_run(real_run, name, member, write):
    run_dir = real_run.parent / name
    if not run_dir.exists():
        shutil.copytree(real_run, run_dir)
        rewrite_npz(real_run / ckpt.CHECKPOINT_NAME, run_dir / ckpt.CHECKPOINT_NAME, member, write)
    return run_dir


D, A, H = 11, 3, 64  # Hopper-v4's observation and action dims, the hidden width
CHECKPOINT_CASES = {
    # name: (member, writer, fragments of the message)
    "header": ("params/pi.W0", huge_header,
               ["member 'params/pi.W0': has shape (200000, 200000), which makes D (observation dims) 200000, "
                f"but obs_rms/mean makes it {D}"]),
    "bomb in the parameters": ("params/pi.W0", bomb(bomb_shape(D)),
                               [f"member 'params/pi.W0' declares shape {bomb_shape(D)} float64 (700 MB), which "
                                "brings the file's arrays to 700 MB, over the budget of"]),
    "bomb in the simulator state": ("envs/0/integration", bomb((BOMB_BYTES // 8,)),
                                    [f"member 'envs/0/integration' declares shape ({BOMB_BYTES // 8},) float64 "
                                     "(700 MB), which brings the file's arrays to 700 MB, over the budget of"]),
}
COMMANDS = {
    "eval": lambda run_dir, tmp_path: ["eval", run_dir, "--episodes", "1"],
    "train --resume": lambda run_dir, tmp_path: ["train", "--resume", run_dir],
    "export-torch": lambda run_dir, tmp_path: ["export-torch", run_dir, tmp_path / "agent.npz"],
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", CHECKPOINT_CASES)
def test_hostile_checkpoint_is_refused_in_one_line_at_normal_memory(real_run, normal_checkpoint_peak, tmp_path,
                                                                    capsys, case, command):
    member, write, fragments = CHECKPOINT_CASES[case]
    run_dir = hostile_run(real_run, case.replace(" ", "_"), member, write)
    path = run_dir / ckpt.CHECKPOINT_NAME
    assert os.path.getsize(path) < 1_000_000
    before = listing(run_dir)
    line, peak = refused(capsys, COMMANDS[command](run_dir, tmp_path), f"ppo-ref: error: {path}: ", *fragments)
    print(f"\n{command} on {case}: peak {peak} bytes, normal load {normal_checkpoint_peak} bytes; {line}")
    assert_near(peak, normal_checkpoint_peak)
    assert listing(run_dir) == before
    assert not (tmp_path / "agent.npz").exists()


def test_bomb_budget_is_the_file_size(real_run):
    """np.savez stores members uncompressed: a real checkpoint's data fits in its file."""
    path = real_run / ckpt.CHECKPOINT_NAME
    assert sum(a.nbytes for a in ckpt.load(path).values()) < os.path.getsize(path)


def edited_checkpoint(real_run, tmp_path, edit):
    arrays = dict(ckpt.load(real_run))
    edit(arrays)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_npz_atomic(run_dir / ckpt.CHECKPOINT_NAME, arrays)
    return run_dir


def resize_envs(arrays, n):
    for name in ("ret_rms/returns", "envs/next_obs", "envs/episode_return", "envs/episode_length"):
        arrays[name] = np.resize(arrays[name], (n, *arrays[name].shape[1:]))


INCONSISTENT = {
    "adam/m/pi.W0 of another hidden width": (
        lambda a: a.update({"adam/m/pi.W0": np.zeros((D, 32))}),
        f"member 'adam/m/pi.W0': has shape ({D}, 32), which makes H (hidden width) 32, but params/pi.W0 makes "
        f"it {H}; a checkpoint holds it with shape (D, H)"),
    "v.W0 of another input size": (
        lambda a: a.update({"params/v.W0": np.zeros((D + 1, H))}),
        f"member 'params/v.W0': has shape ({D + 1}, {H}), which makes D (observation dims) {D + 1}, "
        f"but obs_rms/mean makes it {D}"),
    "adam/v/log_std of another action size": (
        lambda a: a.update({"adam/v/log_std": np.zeros(A + 1)}),
        f"member 'adam/v/log_std': has shape ({A + 1},), which makes A (action dims) {A + 1}, "
        f"but params/pi.W2 makes it {A}"),
    "one array of another number of envs": (
        lambda a: a.update({"envs/episode_length": np.zeros(2, dtype=np.int64)}),
        "member 'envs/episode_length': has shape (2,), which makes N (num_envs) 2, but ret_rms/returns makes it 1"),
    "v.W2 with two outputs": (
        lambda a: a.update({"params/v.W2": np.zeros((H, 2))}),
        f"member 'params/v.W2': has shape ({H}, 2); a checkpoint holds it with shape (H, 1)"),
    "a matrix for a scalar": (
        lambda a: a.update({"ret_rms/var": np.ones((3, 3))}),
        "member 'ret_rms/var': has shape (3, 3); a checkpoint holds it with shape ()"),
    "float32 parameters in a float64 run": (
        lambda a: a.update({"params/pi.b0": a["params/pi.b0"].astype(np.float32)}),
        "member 'params/pi.b0' has dtype float32, but the checkpoint's config has dtype 'float64'"),
    "float16 parameters": (
        lambda a: a.update({"adam/m/pi.b0": a["adam/m/pi.b0"].astype(np.float16)}),
        "member 'adam/m/pi.b0': has dtype float16; a checkpoint holds it as float64 or float32"),
    "a config string as an integer": (
        lambda a: a.update({"config": np.array(7)}),
        "member 'config': has dtype int64; a checkpoint holds it as a unicode string"),
    "an unknown member": (
        lambda a: a.update({"params/pi.W3": np.zeros((H, H))}),
        "member 'params/pi.W3': is not a member of a ppo_ref checkpoint (format version 1)"),
    "a missing member": (
        lambda a: a.pop("adam/v/log_std"),
        "member 'adam/v/log_std' missing; a ppo_ref checkpoint holds it"),
    "a missing simulator state": (
        lambda a: a.pop("envs/0/integration"),
        "member 'envs/0/integration' missing; has_sim_state is true"),
    "a simulator state of an env it does not have": (
        lambda a: a.update({"envs/1/integration": a["envs/0/integration"]}),
        "member 'envs/1/integration' is the simulator state of env 1, but N (num_envs) is 1"),
    "two envs where the config has one": (
        lambda a: resize_envs(a, 2),
        "member 'ret_rms/returns' holds 2 envs, but the checkpoint's config has num_envs 1"),
}


@pytest.mark.parametrize("case", INCONSISTENT)
def test_checkpoint_member_disagreeing_with_the_others_is_refused_naming_it(real_run, tmp_path, capsys, case):
    edit, fragment = INCONSISTENT[case]
    run_dir = edited_checkpoint(real_run, tmp_path, edit)
    path = run_dir / ckpt.CHECKPOINT_NAME
    refused(capsys, ["eval", run_dir], f"ppo-ref: error: {path}: {fragment}")
    refused(capsys, ["train", "--resume", run_dir], f"ppo-ref: error: {path}: {fragment}")


# --- golden vectors ---------------------------------------------------------------------------------------

HOSTILE_CASE, HOSTILE_ARRAY = "ppo_update", "params/pi.W0"  # the largest case but one; an input (5, 64)


def golden_outputs(vectors_dir):
    out = {}
    for case in read_index(vectors_dir)["cases"]:
        arrays = load_case(vectors_dir, case)
        out.update({f"{case['name']}/{a['name']}": arrays[a["name"]] for a in case["arrays"] if a["role"] == "output"})
    return out


@pytest.fixture(scope="module")
def real_outputs(tmp_path_factory):
    """A port's outputs equal to the golden ones, written as a port would (np.savez)."""
    path = tmp_path_factory.mktemp("outputs") / "outputs.npz"
    np.savez(path, **golden_outputs(GOLDEN_DIR))
    return path


@pytest.fixture(scope="module")
def normal_check_port_peak(real_outputs):
    """The peak of a passing ``ppo-ref check-port`` (it loads the outputs and every case)."""
    argv = ["check-port", GOLDEN_DIR, str(real_outputs)]
    main(argv)
    code, peak = traced_peak(lambda: main(argv))
    assert code == 0
    return peak


def hostile_vectors(tmp_path, write, shape_in_index=None, update_sha=True):
    """tests/golden copied, with HOSTILE_ARRAY of HOSTILE_CASE written by ``write``;
    index.json gets the file's new sha256 and, if given, the array's new shape."""
    vectors = tmp_path / "vectors"
    shutil.copytree(GOLDEN_DIR, vectors)
    index = read_index(vectors)
    case = next(c for c in index["cases"] if c["name"] == HOSTILE_CASE)
    path = vectors / case["file"]
    rewrite_npz(GOLDEN_DIR + "/" + case["file"], tmp_path / "hostile.npz", HOSTILE_ARRAY, write)
    os.replace(tmp_path / "hostile.npz", path)
    if update_sha:
        case["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    if shape_in_index is not None:
        next(a for a in case["arrays"] if a["name"] == HOSTILE_ARRAY)["shape"] = list(shape_in_index)
    (vectors / INDEX_NAME).write_text(json.dumps(index))
    return vectors, path


BOMB_5 = bomb_shape(5)
VECTOR_CASES = {
    # name: (writer, shape index.json lists, sha256 updated, fragments)
    "header": (huge_header, None, True,
               ["member 'params/pi.W0': is float64 (200000, 200000), but index.json lists float64 (5, 64)"]),
    "header listed in index.json": (huge_header, HUGE, True,
                                    ["member 'params/pi.W0' declares shape (200000, 200000) float64 (320 GB), "
                                     "more than the 64 bytes the file holds for it"]),
    "header, old sha256": (huge_header, None, False, ["ppo_update.npz does not match its sha256 in index.json"]),
    "bomb": (bomb(BOMB_5), None, True,
             [f"member 'params/pi.W0': is float64 {BOMB_5}, but index.json lists float64 (5, 64)"]),
    "bomb listed in index.json": (bomb(BOMB_5), BOMB_5, True,
                                  [f"member 'params/pi.W0' declares shape {BOMB_5} float64 (700 MB), which brings "
                                   "the file's arrays to 700 MB, over the budget of"]),
}


@pytest.mark.parametrize("case", VECTOR_CASES)
def test_hostile_golden_vectors_are_refused_by_check_port(tmp_path, capsys, real_outputs, normal_check_port_peak,
                                                          case):
    write, shape, update_sha, fragments = VECTOR_CASES[case]
    vectors, path = hostile_vectors(tmp_path, write, shape, update_sha)
    assert os.path.getsize(path) < 1_500_000
    prefix = f"ppo-ref: error: {path}: " if update_sha else f"ppo-ref: error: {path} "
    line, peak = refused(capsys, ["check-port", vectors, real_outputs], prefix, *fragments)
    print(f"\ncheck-port on vectors with {case}: peak {peak} bytes, normal check-port {normal_check_port_peak} "
          f"bytes; {line}")
    assert_near(peak, normal_check_port_peak)


def test_golden_budget_is_the_listed_arrays_and_the_file_size():
    """A budget of the listed sizes alone would let a rewritten index.json list a bomb."""
    for case in read_index(GOLDEN_DIR)["cases"]:
        arrays = load_case(GOLDEN_DIR, case)
        assert sum(a.nbytes for a in arrays.values()) < os.path.getsize(os.path.join(GOLDEN_DIR, case["file"]))


# --- port outputs -----------------------------------------------------------------------------------------

OUTPUT_KEY = "ppo_loss/grads/pi.W0"  # listed in index.json as (5, 64)
# The outputs' budget as the docs state it (docs/porting.md §17): every output
# index.json lists, as 8-byte numbers; in megabytes to three digits, as messages write it.
OUTPUT_BUDGET_MB = sum(math.prod(a["shape"]) * 8 for case in read_index(GOLDEN_DIR)["cases"]
                       for a in case["arrays"] if a["role"] == "output") / 1e6
OVER_BUDGET = f"over the budget of {OUTPUT_BUDGET_MB:.3g} MB"
OUTPUT_CASES = {
    # name: (key, writer, fragments)
    "header": (OUTPUT_KEY, huge_header,
               [f"member '{OUTPUT_KEY}' declares shape (200000, 200000) float64 (320 GB), "
                "more than the 64 bytes the file holds for it"]),
    "bomb": (OUTPUT_KEY, bomb(BOMB_5),
             [f"member '{OUTPUT_KEY}' declares shape {BOMB_5} float64 (700 MB), which brings the file's arrays to",
              OVER_BUDGET]),
    "bomb under a key index.json does not list": ("ppo_loss/scratch", bomb(BOMB_5),
                                                  ["member 'ppo_loss/scratch' declares shape", "(700 MB)",
                                                   OVER_BUDGET]),
}


@pytest.mark.parametrize("case", OUTPUT_CASES)
def test_hostile_port_outputs_are_refused_by_check_port(tmp_path, capsys, real_outputs, normal_check_port_peak,
                                                        case):
    key, write, fragments = OUTPUT_CASES[case]
    source = real_outputs
    if key not in golden_outputs(GOLDEN_DIR):
        source = tmp_path / "with_extra.npz"
        np.savez(source, **golden_outputs(GOLDEN_DIR), **{key: np.zeros(3)})
    path = rewrite_npz(source, tmp_path / "outputs.npz", key, write)
    assert os.path.getsize(path) < 3_000_000  # every golden output, a few MB: far below the bomb's 700 MB
    line, peak = refused(capsys, ["check-port", GOLDEN_DIR, path], f"ppo-ref: error: {path}: ", *fragments)
    print(f"\ncheck-port on outputs with {case}: peak {peak} bytes, normal check-port {normal_check_port_peak} "
          f"bytes; {line}")
    assert_near(peak, normal_check_port_peak)


def test_port_outputs_of_complex_dtype_are_refused(tmp_path, capsys):
    outputs = golden_outputs(GOLDEN_DIR)
    outputs[OUTPUT_KEY] = outputs[OUTPUT_KEY].astype(np.complex128)
    path = tmp_path / "outputs.npz"
    np.savez(path, **outputs)
    refused(capsys, ["check-port", GOLDEN_DIR, path], f"ppo-ref: error: {path}: member '{OUTPUT_KEY}' has dtype "
            "complex128; accepted: ")
