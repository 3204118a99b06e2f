"""Tests for ppo_ref.npzio: the untrusted .npz reader and the atomic writers.

Hostile files are built member by member with zipfile and numpy.lib.format. The
memory a refusal costs is measured with tracemalloc (numpy's allocations are
traced too) and must stay within twice the file's size plus a small constant,
whatever the file declares.
"""

import io
import os
import struct
import time
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest
from numpy.lib import format as npy_format

from ppo_ref.npzio import NpzError, read_npz, write_bytes_atomic, write_npz_atomic

BUDGET = 10_000_000
SMALL_CONSTANT = 512 * 1024


def npy_header(shape, dtype):
    """A version 1.0 .npy header declaring ``shape`` and ``dtype`` (C order)."""
    buf = io.BytesIO()
    npy_format.write_array_header_1_0(
        buf, {"descr": npy_format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape}
    )
    return buf.getvalue()


def npy_bytes(arr, allow_pickle=False):
    buf = io.BytesIO()
    npy_format.write_array(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def write_zip(path, members, compression=zipfile.ZIP_STORED):
    """A zip of ``members``, a list of (member name, bytes), in that order."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about duplicate names
        with zipfile.ZipFile(path, "w", compression) as zf:
            for name, data in members:
                zf.writestr(name, data)
    return path


def patch_last_entry(path, offset, value):
    """Overwrite a 4-byte field of the last central directory entry: offset 8 holds
    the flags (2 bytes, followed by the method), 24 the uncompressed size."""
    data = bytearray(path.read_bytes())
    entry = data.rindex(b"PK\x01\x02")
    if offset == 8:
        struct.pack_into("<H", data, entry + offset, value)
    else:
        struct.pack_into("<I", data, entry + offset, value)
    path.write_bytes(bytes(data))


def refusal(path, **kwargs):
    """The message of the NpzError that read_npz raises on ``path``, and the peak
    traced memory while it ran."""
    kwargs.setdefault("max_bytes", BUDGET)
    tracemalloc.start()
    try:
        with pytest.raises(NpzError) as info:
            read_npz(path, **kwargs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message, peak


def assert_small(peak, path):
    assert peak < 2 * os.path.getsize(path) + SMALL_CONSTANT, (peak, os.path.getsize(path))


def normal_arrays():
    return {
        "params/pi.W0": np.arange(12.0).reshape(3, 4) / 7,
        "adam/t": np.array(5, dtype=np.int64),
        "counts": np.arange(-3, 3, dtype=np.int64),
        "mask": np.array([True, False, True]),
        "config": np.array('{"env_id": "Humanoid-v4", "seed": 1}'),
        "fortran": np.asfortranarray(np.arange(24.0).reshape(2, 3, 4)),
        "empty": np.zeros((2, 0)),
    }


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_round_trip_equals_np_load(tmp_path, save):
    path = tmp_path / "normal.npz"
    save(path, **normal_arrays())
    got = read_npz(path, max_bytes=BUDGET)
    with np.load(path, allow_pickle=False) as f:
        want = {k: f[k] for k in f.files}
    assert list(got) == list(want) == list(normal_arrays())
    for name, arr in want.items():
        assert got[name].dtype == arr.dtype and got[name].shape == arr.shape, name
        assert np.array_equal(got[name], arr), name
        assert got[name].flags.writeable
    assert got["fortran"].flags.f_contiguous
    assert str(got["config"]) == str(want["config"])


def load_peak(path, **kwargs):
    """The peak traced memory while read_npz loads ``path``."""
    tracemalloc.start()
    try:
        read_npz(path, **kwargs)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_normal_load_costs_about_its_data(tmp_path, save):
    path = tmp_path / "big.npz"
    arrays = {"a": np.ones(1_000_000), "b": np.arange(500_000)}
    save(path, **arrays)
    data_bytes = sum(a.nbytes for a in arrays.values())
    assert load_peak(path, max_bytes=data_bytes) < data_bytes + SMALL_CONSTANT


def test_huge_shape_header_is_refused_before_allocation(tmp_path):
    member = npy_header((200_000, 200_000), np.float64) + b"\0" * 64
    path = write_zip(tmp_path / "checkpoint.npz", [("params/pi.W0.npy", member)])
    message, peak = refusal(path)
    assert "member 'params/pi.W0' declares shape (200000, 200000) float64 (320 GB)" in message
    assert "more than the 64 bytes the file holds for it" in message
    assert_small(peak, path)


def test_deflate_bomb_is_refused_by_the_budget(tmp_path):
    n = 200 * (1 << 20)
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("zeros.npy", "w", force_zip64=True) as f:
            f.write(npy_header((n // 8,), np.float64))
            zeros = bytes(1 << 20)
            for _ in range(n // len(zeros)):
                f.write(zeros)
    assert os.path.getsize(path) < n / 500
    message, peak = refusal(path)
    assert "member 'zeros' declares shape (26214400,) float64 (210 MB)" in message
    assert "over the budget of 10 MB" in message
    assert_small(peak, path)


def test_deflated_member_inflating_past_its_zip_entry_is_refused(tmp_path):
    header = npy_header((10_000,), np.float64)
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("x.npy", "w") as f:
            f.write(header)
            zeros = bytes(1 << 20)
            for _ in range(50):
                f.write(zeros)
    patch_last_entry(path, 24, len(header) + 80_000)
    message, peak = refusal(path)
    assert "member 'x' cannot be read: Bad CRC-32" in message
    normal = tmp_path / "normal.npz"
    np.savez_compressed(normal, x=np.zeros(10_000))
    assert peak < load_peak(normal, max_bytes=BUDGET) + SMALL_CONSTANT


def test_header_declaring_less_than_the_member_holds_is_refused(tmp_path):
    member = npy_header((10,), np.float64) + np.arange(100.0).tobytes()
    path = write_zip(tmp_path / "short_header.npz", [("x.npy", member)])
    message, _ = refusal(path)
    assert "member 'x' declares shape (10,) float64 (80 bytes), less than the 800 bytes the file holds for it" in message


def test_data_ending_before_its_declared_size_is_refused(tmp_path):
    header = npy_header((100,), np.float64)
    path = write_zip(tmp_path / "cut.npz", [("x.npy", header + bytes(400))])
    patch_last_entry(path, 24, len(header) + 800)
    message, _ = refusal(path)
    assert "member 'x' declares shape (100,) float64 (800 bytes), but its data ends after 400 bytes" in message


def test_total_over_the_budget_is_refused_naming_the_member_that_crosses_it(tmp_path):
    path = tmp_path / "three.npz"
    np.savez(path, a=np.zeros(100), b=np.zeros(100), c=np.zeros(100))
    message, _ = refusal(path, max_bytes=2000)
    assert "member 'c' declares shape (100,) float64 (800 bytes)" in message
    assert "brings the file's arrays to 2.4 kB, over the budget of 2 kB" in message


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.99])
def test_truncated_file_is_refused(tmp_path, keep):
    path = tmp_path / "checkpoint.npz"
    np.savez(path, **normal_arrays())
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])
    message, _ = refusal(path)
    assert "not an .npz file (not a zip archive, or a truncated one)" in message


def test_non_zip_is_refused(tmp_path):
    path = tmp_path / "plain.npz"
    np.save(path.with_suffix(".npy"), np.arange(3.0))
    os.replace(path.with_suffix(".npy"), path)
    message, _ = refusal(path)
    assert "not an .npz file" in message


def test_missing_file_is_refused(tmp_path):
    message, _ = refusal(tmp_path / "absent.npz")
    assert "cannot be read: No such file or directory" in message


def test_pickled_object_member_is_refused(tmp_path):
    member = npy_bytes(np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    path = write_zip(tmp_path / "pickle.npz", [("ok.npy", npy_bytes(np.zeros(2))), ("obj.npy", member)])
    message, _ = refusal(path)
    assert "member 'obj' holds Python objects (dtype object)" in message


def test_dtypes_outside_the_accepted_ones_are_refused(tmp_path):
    path = tmp_path / "complex.npz"
    np.savez(path, z=np.ones(3, dtype=np.complex128))
    message, _ = refusal(path)
    assert "member 'z' has dtype complex128; accepted: bool, integer, float or unicode" in message
    np.savez(path, x=np.ones(3), n=np.arange(3))
    message, _ = refusal(path, allowed_dtypes=[np.float64])
    assert "member 'n' has dtype int64; accepted: float64" in message
    assert list(read_npz(path, max_bytes=BUDGET, allowed_dtypes=["<f8", "<i8"])) == ["x", "n"]


def test_expect_sees_each_header_before_any_data(tmp_path):
    member = npy_header((200_000, 200_000), np.float64) + b"\0" * 64
    path = write_zip(tmp_path / "checkpoint.npz", [("params/pi.W0.npy", npy_bytes(np.zeros((3, 4)))),
                                                   ("params/extra.npy", member)])
    seen = []

    def expect(name, dtype, shape):
        seen.append((name, dtype, shape))
        if name == "params/extra":
            raise NpzError("is not part of a checkpoint")
        return None

    message, _ = refusal(path, expect=expect)
    assert message == f"{path}: member 'params/extra': is not part of a checkpoint"
    assert seen == [("params/pi.W0", np.dtype(np.float64), (3, 4)),
                    ("params/extra", np.dtype(np.float64), (200_000, 200_000))]

    message, _ = refusal(path, expect=lambda name, dtype, shape: None if shape == (3, 4) else f"has shape {shape}")
    assert message == f"{path}: member 'params/extra': has shape (200000, 200000)"


def test_duplicate_member_names_are_refused(tmp_path):
    path = write_zip(tmp_path / "dup.npz", [("a.npy", npy_bytes(np.zeros(2))), ("a.npy", npy_bytes(np.ones(2)))])
    message, _ = refusal(path)
    assert "member 'a.npy' appears more than once" in message


def test_member_not_named_npy_is_refused(tmp_path):
    path = write_zip(tmp_path / "extra.npz", [("a.npy", npy_bytes(np.zeros(2))), ("notes.txt", b"hello")])
    message, _ = refusal(path)
    assert "member 'notes.txt' is not an .npy array" in message


def test_bzip2_member_is_refused(tmp_path):
    path = write_zip(tmp_path / "bz.npz", [("a.npy", npy_bytes(np.zeros(1000)))], zipfile.ZIP_BZIP2)
    message, _ = refusal(path)
    assert "member 'a.npy' uses zip compression method 12; only stored and deflated members are read" in message


def test_encrypted_member_is_refused(tmp_path):
    path = write_zip(tmp_path / "enc.npz", [("a.npy", npy_bytes(np.zeros(2)))])
    patch_last_entry(path, 8, 0x1)
    message, _ = refusal(path)
    assert "member 'a.npy' is encrypted" in message


def test_write_npz_atomic_writes_what_np_savez_writes(tmp_path, monkeypatch):
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.0)
    arrays = normal_arrays()
    ours, theirs = tmp_path / "ours.npz", tmp_path / "theirs.npz"
    write_npz_atomic(ours, arrays)
    with open(theirs, "wb") as f:
        np.savez(f, **arrays)
    assert ours.read_bytes() == theirs.read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["ours.npz", "theirs.npz"]


def test_write_bytes_atomic_keeps_the_old_file_when_the_rename_fails(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.npz"
    write_bytes_atomic(path, b"old")

    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="No space left"):
        write_bytes_atomic(path, b"new")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["checkpoint.npz"]


def test_write_bytes_atomic_names_the_file_asked_for_when_it_cannot_be_created(tmp_path):
    path = tmp_path / "missing-folder" / "checkpoint.npz"
    with pytest.raises(FileNotFoundError) as err:
        write_bytes_atomic(path, b"new")
    assert err.value.filename == str(path)
    assert os.listdir(tmp_path) == []
