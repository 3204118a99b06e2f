"""Check a port's outputs against the golden vectors, one named tensor at a time.

A port reads each case's inputs from ``VECTORS_DIR/<case>.npz``, computes the
arrays that ``index.json`` lists with role "output", and saves them all in one
``.npz`` with keys ``"<case>/<array name>"`` (for example ``"ppo_loss/grads/pi.W0"``),
in ppo_ref's layout and shapes. :func:`check_port` then compares tensor by tensor
in index order and stops at the first mismatch, naming the tensor and the element:

    ppo-ref check-port tests/golden outputs.npz

An element passes when ``|port - golden| <= atol + rtol * |golden|`` (numpy's
``allclose``). The defaults suit a float64 port: reordering the sums of a float64
computation moves these outputs by about 1e-12 relative; loosen both for float32.
"""

import math
import os
import zipfile

import numpy as np

from ppo_ref.npzio import NpzError, read_npz
from ppo_ref.port.format import GoldenError, load_case, read_index

DEFAULT_RTOL = 1e-9
DEFAULT_ATOL = 1e-15


class PortMismatch(Exception):
    """A port's output is missing, has the wrong shape or differs from the golden
    value. ``key`` names the tensor; ``index`` and ``rel_error`` locate a value
    mismatch (both None for a missing tensor or a wrong shape)."""

    def __init__(self, message, key, index=None, rel_error=None):
        super().__init__(message)
        self.key = key
        self.index = index
        self.rel_error = rel_error


def check_port(vectors_dir, outputs_npz, rtol=DEFAULT_RTOL, atol=DEFAULT_ATOL, cases=None):
    """Compare every golden output (of the named ``cases``, default all) with the
    port's; return the number of tensors checked.

    Raises :class:`PortMismatch` at the first mismatch in index order, and
    :class:`~ppo_ref.port.format.GoldenError` when the vectors or the outputs
    file cannot be read.
    """
    index = read_index(vectors_dir)
    known = [c["name"] for c in index["cases"]]
    unknown = sorted(set(cases or ()) - set(known))
    if unknown:
        raise GoldenError(f"no case named {', '.join(unknown)} in {vectors_dir}; the cases are {', '.join(known)}")
    port = _load_outputs(outputs_npz, index)
    checked = 0
    for case in index["cases"]:
        if cases is not None and case["name"] not in cases:
            continue
        golden = load_case(vectors_dir, case)
        for entry in case["arrays"]:
            if entry["role"] != "output":
                continue
            key = f"{case['name']}/{entry['name']}"
            if key not in port:
                raise PortMismatch(f"{key} is missing from {outputs_npz} (expected {entry['dtype']} "
                                   f"{tuple(entry['shape'])}: {entry['meaning']})", key)
            compare_tensor(key, port[key], golden[entry["name"]], rtol, atol)
            checked += 1
    return checked


# What a port may write: bool, integers and floats of up to 8 bytes, in either byte order.
OUTPUT_DTYPES = tuple(np.dtype(order + code) for order in "<>" for code in
                      ("b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8"))


def _load_outputs(path, index):
    """The port's outputs, read as untrusted (:func:`ppo_ref.npzio.read_npz`):
    real-number dtypes only, and no more data in all than every output the index
    lists would take as 8-byte numbers (keys the index does not list count too).
    A listed key of another shape is left to :func:`compare_tensor` to report."""
    if not os.path.isfile(path):
        raise GoldenError(f"no port outputs at {path}: no such file")
    if not zipfile.is_zipfile(path):
        raise GoldenError(f"{path} is not an .npz (zip) file")
    budget = sum(math.prod(a["shape"]) * 8 for case in index["cases"] for a in case["arrays"]
                 if a["role"] == "output")
    try:
        return read_npz(path, max_bytes=budget, allowed_dtypes=OUTPUT_DTYPES)
    except NpzError as err:
        raise GoldenError(str(err)) from None


def compare_tensor(key, port, golden, rtol=DEFAULT_RTOL, atol=DEFAULT_ATOL):
    """Raise :class:`PortMismatch` naming ``key`` and the first element (in C order)
    where ``|port - golden| > atol + rtol * |golden|`` (NaN never passes)."""
    if port.dtype.kind not in "fiub":
        raise PortMismatch(f"{key} has dtype {port.dtype}; expected real numbers like the golden {golden.dtype}", key)
    if port.shape != golden.shape:
        raise PortMismatch(f"{key} has shape {port.shape}; expected {golden.shape}", key)
    p = port.astype(np.float64)
    g = golden.astype(np.float64)
    diff = np.abs(p - g)
    bad = ~(diff <= atol + rtol * np.abs(g))
    if not bad.any():
        return
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    rel = float(diff[index] / abs(g[index])) if g[index] != 0 else float("inf")
    where = f"{key}[{', '.join(map(str, index))}]" if index else key
    raise PortMismatch(f"{where}: port {float(p[index])!r}, golden {float(g[index])!r}, relative error {rel:.3g} "
                       f"(rtol {rtol:g}, atol {atol:g})", key, index, rel)
