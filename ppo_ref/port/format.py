"""The on-disk format of the golden test vectors, for writing them and reading them back.

A vectors directory holds:

    index.json   ``format``, ``format_version``, the ``ppo_ref_version`` that wrote
                 it, ``conventions`` (the rules a porter needs) and ``cases``: for
                 each case, in order, its ``name``, ``file``, ``sha256``,
                 ``description`` and ``arrays``, each array with ``name``, ``role``
                 ("input" or "output"), ``shape``, ``dtype`` and ``meaning``.
    <case>.npz   the case's arrays in index order: a zip of ``.npy`` files, stored
                 uncompressed, holding only little-endian float64, int64 and bool
                 arrays (scalars are 0-d arrays), so ``numpy.load(...,
                 allow_pickle=False)`` or any .npy reader can open it.

The bytes are a function of the arrays alone: zip entries carry a fixed timestamp
and permissions, and index.json is written with sorted keys, so generating the
same vectors twice gives identical files.
"""

import hashlib
import io
import json
import math
import os
import zipfile

import numpy as np

from ppo_ref.errors import UserError
from ppo_ref.npzio import NpzError, read_npz

FORMAT = "ppo_ref-golden"
FORMAT_VERSION = 2
INDEX_NAME = "index.json"
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold
DTYPES = {"float64": np.dtype("<f8"), "int64": np.dtype("<i8"), "bool": np.dtype("|b1")}


class GoldenError(UserError):
    """A vectors directory cannot be used; the message says which file and why."""


def dtype_name(arr):
    """The index.json name of an array's dtype; refuses anything but float64, int64, bool."""
    for name, dt in DTYPES.items():
        if arr.dtype == dt:
            return name
    raise TypeError(f"golden arrays must be float64, int64 or bool, got dtype {arr.dtype}")


def npz_bytes(arrays):
    """An .npz of ``arrays`` (name -> array), entries in the dict's order, with a
    fixed timestamp and permissions so that equal arrays give equal bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, arr in arrays.items():
            dtype_name(arr)
            npy = io.BytesIO()
            np.lib.format.write_array(npy, np.array(arr, order="C"), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_DATE_TIME)
            info.create_system = 3  # Unix, whatever the machine
            info.external_attr = 0o644 << 16
            zf.writestr(info, npy.getvalue())
    return buf.getvalue()


def index_bytes(index):
    """index.json as UTF-8: sorted keys, two-space indent, one line per array entry
    (a dict with a "shape"), a final newline."""
    return (_json_lines(index, 0) + "\n").encode()


def _json_lines(obj, depth):
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(obj, dict) and "shape" not in obj:
        items = [f"{inner}{json.dumps(k)}: {_json_lines(obj[k], depth + 1)}" for k in sorted(obj)]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and obj and isinstance(obj[0], dict):
        return "[\n" + ",\n".join(inner + _json_lines(v, depth + 1) for v in obj) + "\n" + pad + "]"
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def read_index(vectors_dir):
    """Load and check ``vectors_dir/index.json``."""
    path = os.path.join(vectors_dir, INDEX_NAME)
    try:
        with open(path, encoding="utf-8") as f:
            index = json.load(f)
    except FileNotFoundError:
        raise GoldenError(f"{vectors_dir} has no {INDEX_NAME}; is it a golden vectors directory?") from None
    except (OSError, ValueError) as err:
        raise GoldenError(f"{path} is not readable JSON: {err}") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise GoldenError(f"{path} is not a ppo_ref golden index (no \"format\": \"{FORMAT}\")")
    if index.get("format_version") != FORMAT_VERSION:
        raise GoldenError(f"{path} has format_version {index.get('format_version')!r}; "
                          f"this ppo_ref reads version {FORMAT_VERSION}")
    return index


def load_case(vectors_dir, case):
    """The arrays of one ``case`` entry of the index, after checking the file's
    sha256 and that it holds exactly the arrays, shapes and dtypes listed.

    The file is read as untrusted (:func:`ppo_ref.npzio.read_npz`): each member's
    header must match its index entry before any data is read, and the data may
    not total more than the listed arrays' sizes, nor more than the file's size
    (the members are stored uncompressed).
    """
    path = os.path.join(vectors_dir, case["file"])
    try:
        digest = _file_sha256(path)
    except OSError as err:
        raise GoldenError(f"cannot read {path}: {err.strerror}") from None
    if digest != case["sha256"]:
        raise GoldenError(f"{path} does not match its sha256 in {INDEX_NAME}; regenerate the vectors")
    entries = case["arrays"]
    listed = [a["name"] for a in entries]
    budget = sum(math.prod(a["shape"]) * DTYPES[a["dtype"]].itemsize for a in entries if a["dtype"] in DTYPES)
    budget = min(budget, os.path.getsize(path))
    position = iter(range(len(entries) + 1))

    def expect(name, dtype, shape):
        i = next(position)
        if i >= len(entries):
            return f"is not listed in {INDEX_NAME}, which lists {len(entries)} arrays for this file"
        a = entries[i]
        if name != a["name"]:
            return f"is array {i + 1} of the file, but {INDEX_NAME} lists {a['name']!r} there"
        if a["dtype"] not in DTYPES or dtype != DTYPES[a["dtype"]] or list(shape) != a["shape"]:
            return f"is {dtype} {shape}, but {INDEX_NAME} lists {a['dtype']} {tuple(a['shape'])}"
        return None

    try:
        arrays = read_npz(path, max_bytes=budget, expect=expect, allowed_dtypes=DTYPES.values())
    except NpzError as err:
        raise GoldenError(str(err)) from None
    if list(arrays) != listed:
        raise GoldenError(f"{path} holds arrays {list(arrays)}, but {INDEX_NAME} lists {listed}")
    return arrays


def _file_sha256(path):
    """The sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()
