"""Check a port's outputs against the golden vectors, one named tensor at a time.

A port reads each case's inputs from ``VECTORS_DIR/<case>.npz``, computes the
arrays that ``index.json`` lists with role "output", and saves them all in one
``.npz`` with keys ``"<case>/<array name>"`` (for example ``"ppo_loss/grads/pi.W0"``),
in ppo_ref's layout and shapes (``ppo-ref check-port --list VECTORS_DIR`` prints
every key; docs/porting.md §17 has a complete example).
:func:`port_report` compares every tensor and returns a :class:`PortReport`:
per tensor the largest absolute and relative error and its worst element, the
missing tensors, the keys the index does not list, and the failure to look at
first, the earliest in the computation: the cases in the index's order, and
within a case the index's order, which follows the computation (a wrong layer
makes everything downstream fail too). :func:`check_port` stops at the first
failure instead and raises it.

    ppo-ref check-port tests/golden outputs.npz             # the whole report
    ppo-ref check-port tests/golden outputs.npz --first     # stop at the first failure
    ppo-ref check-port tests/golden outputs.npz --float32   # a float32 port

An element passes when ``|port - golden| <= atol + rtol * |golden|`` (numpy's
``allclose``). The defaults suit a float64 port: reordering the sums of a float64
computation moves these outputs by about 1e-12 relative.

A float32 port (``float32=True``) is judged each tensor on its own scale:
``max |port - golden| <= FLOAT32_TOL * max |golden|``. An absolute tolerance large
enough for float32 rounding near zero would exceed most of Adam's second moments
(about 1e-6), so a second moment off by 5 % would pass; on the tensor's own scale
it fails. FLOAT32_TOL is FLOAT32_MARGIN times the largest error of a correct
float32 computation of the golden cases (:mod:`ppo_ref.port.measure`, measured in
docs/porting.md §17).
"""

import difflib
import math
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

from ppo_ref.core.agent import grad_norm_order
from ppo_ref.npzio import NpzError, read_npz
from ppo_ref.port.diagnose import likely_causes
from ppo_ref.port.format import GoldenError, load_case, read_index

DEFAULT_RTOL = 1e-9
DEFAULT_ATOL = 1e-15
FLOAT32_MARGIN = 10
"""Factor between the worst error of the measured float32 computation and
FLOAT32_TOL: room for a port that sums in another order, blocks its matrix
products differently or fuses multiply-adds."""
FLOAT32_NUDGE_MARGIN = 3
"""Factor between the worst error over the runs on inputs nudged by one float32 ulp
(which move a case's worst by up to 8x) and FLOAT32_TOL."""
FLOAT32_TOL = 2e-5
"""``max |port - golden| / max |golden|`` allowed per tensor with ``float32=True``:
the larger of FLOAT32_MARGIN times the measured worst (1.76e-6,
ppo_update_kinks/m_after/log_std) and FLOAT32_NUDGE_MARGIN times the nudged runs' worst
(6.27e-6), over every case but ``iteration``, rounded up to one significant digit; measured in portable numerics
(SPEC 8.2), so the same on every machine of the portable domain (docs/porting.md §17).
The planted faults of tests/test_port_float32.py fail their first tensor by
more than 30 times it. The case ``iteration`` has its own, FLOAT32_ITERATION_TOL."""
FLOAT32_ITERATION_TOL = 3e-4
"""FLOAT32_TOL's rule applied to the case ``iteration`` alone: a whole iteration in
float32 (a rollout of 64 steps whose rounding reaches the advantages, then 16
minibatch steps) moves its outputs more than any one piece does; 10 times its
measured worst (2.19e-5, iteration/m_after/v.W1), 3 times its nudged worst
(3.31e-5), rounded up. A separate tolerance keeps the pieces' cases as strict as
their own measurement allows."""
FLOAT32_CASE_TOLS = {"iteration": FLOAT32_ITERATION_TOL}


def float32_tol(case):
    """The float32 tolerance of the case named ``case``."""
    return FLOAT32_CASE_TOLS.get(case, FLOAT32_TOL)


class PortMismatch(Exception):
    """A port's output is missing, has the wrong shape or differs from the golden
    value. ``key`` names the tensor; ``index`` (the worst element) and ``rel_error``
    (its relative error) locate a value mismatch (both None for a missing tensor or
    a wrong shape). ``result`` is the :class:`TensorResult`, when there is one."""

    def __init__(self, message, key, index=None, rel_error=None, result=None):
        super().__init__(message)
        self.key = key
        self.index = index
        self.rel_error = rel_error
        self.result = result


@dataclass
class TensorResult:
    """One tensor's comparison. ``status``: "pass", "fail" (values), "missing",
    "shape" or "dtype". ``max_abs`` and ``max_rel`` are the largest absolute and
    relative errors (``max_rel`` is relative to ``max |golden|`` with the float32
    criterion); ``index`` is the worst element, the one furthest outside its
    tolerance (with the float32 criterion, the largest absolute error);
    ``rel_error`` is that element's relative error. ``message`` says what failed,
    ending with the ``cause`` when the failure has a known signature
    (:mod:`ppo_ref.port.diagnose`)."""
    key: str
    status: str
    message: str = ""
    max_abs: float = math.nan
    max_rel: float = math.nan
    index: tuple = None
    rel_error: float = None
    port_dtype: str = None
    cause: str = None

    @property
    def ok(self):
        return self.status == "pass"

    @property
    def case(self):
        return self.key.split("/", 1)[0]

    @property
    def name(self):
        return self.key.split("/", 1)[1]

    def error(self):
        return PortMismatch(self.message, self.key, self.index, self.rel_error, self)


@dataclass
class PortReport:
    """Every tensor's :class:`TensorResult` in the order of the computation (the
    index's cases in order, each case's outputs in index order), the keys of the
    outputs file the index does not list, and the criterion used."""
    results: list
    unexpected: list = field(default_factory=list)
    criterion: str = ""
    float32: bool = False

    @property
    def failures(self):
        return [r for r in self.results if not r.ok]

    @property
    def ok(self):
        return not self.failures

    @property
    def first_failure(self):
        """The failure to look at first: the earliest in the computation."""
        return next(iter(self.failures), None)

    def table(self):
        """The report as aligned text: one row per tensor, then the failures'
        details and the unexpected keys."""
        rel = "max err/max|golden|" if self.float32 else "max rel error"
        rows = [("case", "tensor", "max abs error", rel, "worst index", "result")]
        for r in self.results:
            index = "-" if r.index is None else f"[{', '.join(map(str, r.index))}]"
            rows.append((r.case, r.name, _num(r.max_abs), _num(r.max_rel), index,
                         "pass" if r.ok else ("FAIL" if r.status == "fail" else r.status.upper())))
        widths = [max(len(row[i]) for row in rows) for i in range(6)]
        right = (False, False, True, True, False, False)
        lines = ["  ".join(c.rjust(w) if rj else c.ljust(w) for c, w, rj in zip(row, widths, right)).rstrip()
                 for row in rows]
        if self.failures:
            n = len(self.failures)
            lines += ["", f"{n} {'failure' if n == 1 else 'failures'}, earliest in the computation first:"]
            lines += [f"  {r.message}" for r in self.failures]
        if self.unexpected:
            n = len(self.unexpected)
            lines += ["", f"{n} {'key' if n == 1 else 'keys'} the index does not list (not checked):"]
            lines += [f"  {k}" for k in self.unexpected]
        return "\n".join(lines)


def _num(x):
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3g}"


def expected_outputs(vectors_dir, cases=None):
    """``[(case entry, array entry)]`` of every output the port must write, in index
    order, for the named ``cases`` (default all); raises GoldenError for an unknown case."""
    index = read_index(vectors_dir)
    _check_case_names(vectors_dir, index, cases)
    return [(c, a) for c in index["cases"] if cases is None or c["name"] in cases
            for a in c["arrays"] if a["role"] == "output"]


def _check_case_names(vectors_dir, index, cases):
    known = [c["name"] for c in index["cases"]]
    unknown = sorted(set(cases or ()) - set(known))
    if unknown:
        raise GoldenError(f"no case named {', '.join(unknown)} in {vectors_dir}; the cases are {', '.join(known)}")


def listing(vectors_dir, cases=None):
    """What a port must write, as text: per case its inputs file and input names,
    then every output key with its shape, dtype and meaning."""
    entries = expected_outputs(vectors_dir, cases)
    width = max(len(f"{c['name']}/{a['name']}") for c, a in entries)
    shape_width = max(len(str(tuple(a["shape"]))) for _, a in entries)
    blocks = []
    for case in dict((c["name"], c) for c, _ in entries).values():
        inputs = [a["name"] for a in case["arrays"] if a["role"] == "input"]
        lines = [f"# {case['name']}: {case['description']}", f"# inputs from {case['file']}: {', '.join(inputs)}"]
        lines += [f"{case['name'] + '/' + a['name']:<{width}}  {str(tuple(a['shape'])):<{shape_width}}  "
                  f"{a['dtype']:<7}  {a['meaning']}" for a in case["arrays"] if a["role"] == "output"]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def port_report(vectors_dir, outputs_npz, rtol=DEFAULT_RTOL, atol=DEFAULT_ATOL, cases=None, float32=False,
                first=False):
    """Compare every golden output (of the named ``cases``, default all) with the
    port's and return a :class:`PortReport`; with ``first``, stop after the first
    failure. ``float32``: judge each tensor on its own scale (FLOAT32_TOL), not with
    rtol and atol.

    Raises :class:`~ppo_ref.port.format.GoldenError` when the vectors or the outputs
    file cannot be read, or a tolerance is not a finite number >= 0.
    """
    for name, tol in (("rtol", rtol), ("atol", atol)):
        if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
            raise GoldenError(f"--{name} ({tol!r}) must be a finite number >= 0")
    index = read_index(vectors_dir)
    _check_case_names(vectors_dir, index, cases)
    port = _load_outputs(outputs_npz, index)
    criterion = (f"float32: max |port - golden| <= {FLOAT32_TOL:g} max |golden| per tensor (the iteration case: "
                 f"{FLOAT32_ITERATION_TOL:g})" if float32 else f"rtol {rtol:g}, atol {atol:g}")
    listed = {f"{c['name']}/{a['name']}" for c in index["cases"] for a in c["arrays"] if a["role"] == "output"}
    results, goldens = [], {}
    for case in index["cases"]:
        if cases is not None and case["name"] not in cases:
            continue
        golden = goldens[case["name"]] = load_case(vectors_dir, case)
        case_results = []
        for entry in computation_order([a for a in case["arrays"] if a["role"] == "output"]):
            key = f"{case['name']}/{entry['name']}"
            if key not in port:
                result = TensorResult(key, "missing", f"{key} is missing from {outputs_npz} (expected "
                                                      f"{entry['dtype']} {tuple(entry['shape'])}: {entry['meaning']})")
            else:
                result = compare(key, port[key], golden[entry["name"]], rtol, atol, float32)
            case_results.append(result)
            if first and not result.ok:
                break
        results += case_results
        if first and not case_results[-1].ok:
            break
    causes = likely_causes(results, goldens, port, float32)
    for result in results:
        result.cause = causes.get(result.key)
        if result.cause:
            result.message += f"; likely cause: {result.cause}"
    if first and results and not results[-1].ok:
        return PortReport(results, [], criterion, float32)
    missing = [r.key for r in results if r.status == "missing"]
    unexpected = []
    for key in sorted(set(port) - listed):
        near = difflib.get_close_matches(key, missing, n=1)
        unexpected.append(f"{key} (did you mean {near[0]}?)" if near else key)
    return PortReport(results, unexpected, criterion, float32)


def computation_order(entries):
    """A case's output entries in the order of the computation: the index's order,
    except that a group of gradients (``grads/``, ``clipped_grads/``) is in
    backpropagation's order (agent.grad_norm_order: the output layer first), so
    that the first failing gradient is the one the fault reaches first."""
    groups = {}
    for e in entries:
        group, _, param = e["name"].rpartition("/")
        if group in ("grads", "clipped_grads"):
            groups.setdefault(group, {})[param] = e
    ordered, seen = [], set()
    for e in entries:
        group = e["name"].rpartition("/")[0]
        if group not in groups:
            ordered.append(e)
        elif group not in seen:
            seen.add(group)
            ordered += [groups[group][p] for p in grad_norm_order(groups[group])]
    return ordered


def check_port(vectors_dir, outputs_npz, rtol=DEFAULT_RTOL, atol=DEFAULT_ATOL, cases=None, float32=False):
    """Compare the golden outputs (of the named ``cases``, default all) with the
    port's in index order, stopping at the first failure; return the number of
    tensors checked.

    Raises :class:`PortMismatch` for the first failure (naming the tensor's worst
    element), and :class:`~ppo_ref.port.format.GoldenError` when the vectors or the
    outputs file cannot be read. :func:`port_report` checks every tensor.
    """
    report = port_report(vectors_dir, outputs_npz, rtol, atol, cases, float32, first=True)
    if not report.ok:
        raise report.first_failure.error()
    return len(report.results)


# What a port may write: bool, integers and floats of up to 8 bytes, in either byte order.
OUTPUT_DTYPES = tuple(np.dtype(order + code) for order in "<>" for code in
                      ("b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8"))


def _load_outputs(path, index):
    """The port's outputs, read as untrusted (:func:`ppo_ref.npzio.read_npz`):
    real-number dtypes only, and no more data in all than every output the index
    lists would take as 8-byte numbers (keys the index does not list count too).
    A listed key of another shape is left to :func:`compare` to report."""
    if not os.path.isfile(path):
        raise GoldenError(f"no port outputs at {path}: "
                          + ("not a file" if os.path.exists(path) else "no such file"))
    if not zipfile.is_zipfile(path):
        raise GoldenError(f"{path} is not an .npz (zip) file")
    budget = sum(math.prod(a["shape"]) * 8 for case in index["cases"] for a in case["arrays"]
                 if a["role"] == "output")
    try:
        return read_npz(path, max_bytes=budget, allowed_dtypes=OUTPUT_DTYPES)
    except NpzError as err:
        raise GoldenError(str(err)) from None


def compare(key, port, golden, rtol=DEFAULT_RTOL, atol=DEFAULT_ATOL, float32=False):
    """One tensor's :class:`TensorResult`. An element passes when ``|port - golden|
    <= atol + rtol * |golden|``, or with ``float32`` when ``|port - golden| <=
    float32_tol(case) * max |golden|``; NaN never passes. The worst element is the one
    furthest outside its tolerance (the first NaN, if any)."""
    port, golden = np.asarray(port), np.asarray(golden)
    tol = float32_tol(key.split("/", 1)[0])
    dtype = port.dtype.name
    if port.dtype.kind not in "fiub":
        return TensorResult(key, "dtype", f"{key} has dtype {port.dtype}; expected real numbers like the golden "
                                          f"{golden.dtype}", port_dtype=dtype)
    if port.shape != golden.shape:
        message = f"{key} has shape {port.shape}; expected {golden.shape}"
        if port.ndim == 2 and port.shape == golden.shape[::-1]:
            matches = _values_pass(port.T, golden, rtol, atol, float32 and tol)
            message += (": the port's array is the transpose of the golden one (PyTorch's (out, in) against "
                        f"ppo_ref's (in, out)), and transposed it {'matches' if matches else 'still differs'}")
        return TensorResult(key, "shape", message, port_dtype=dtype)
    if golden.size == 0:
        return TensorResult(key, "pass", max_abs=0.0, max_rel=0.0, port_dtype=dtype)
    p, g = port.astype(np.float64), golden.astype(np.float64)
    diff = np.abs(p - g)
    scale = float(np.max(np.abs(g)))
    allowed = _allowed(g, rtol, atol, float32 and tol)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(diff == 0, 0.0, diff / np.abs(g))
        excess = np.where(diff == 0, 0.0, diff / allowed)
    bad = ~(diff <= allowed)
    nan = np.isnan(diff)
    worst = np.argmax(nan) if nan.any() else np.argmax(excess)
    index = tuple(int(i) for i in np.unravel_index(worst, g.shape))
    max_abs = math.inf if nan.any() else float(np.max(diff))
    if float32:
        max_rel = math.inf if nan.any() else (max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else math.inf))
    else:
        max_rel = math.inf if nan.any() else float(np.max(rel))
    rel_error = float(rel[index]) if not nan[index] else math.nan
    if not bad.any():
        index = index if max_abs > 0 else None
        return TensorResult(key, "pass", max_abs=max_abs, max_rel=max_rel, index=index, rel_error=rel_error,
                            port_dtype=dtype)
    where = f"{key}[{', '.join(map(str, index))}]" if index else key
    if float32:
        message = (f"{where}: port {float(p[index])!r}, golden {float(g[index])!r}, error {float(diff[index]):.3g} "
                   f"= {max_rel:.3g} of max |golden| {scale:.3g} (float32 tolerance {tol:g})")
    else:
        message = (f"{where}: port {float(p[index])!r}, golden {float(g[index])!r}, relative error "
                   f"{rel_error:.3g} (rtol {rtol:g}, atol {atol:g})")
    if port.ndim == 2 and port.shape[0] == port.shape[1] and _values_pass(port.T, golden, rtol, atol, float32 and tol):
        message += ("; the port's array transposed matches: it holds the golden array transposed (PyTorch's "
                    "(out, in) against ppo_ref's (in, out))")
    return TensorResult(key, "fail", message, max_abs, max_rel, index, rel_error, dtype)


def _allowed(golden, rtol, atol, float32_tol):
    """Each element's tolerance: ``float32_tol * max |golden|`` when it is given (not
    False), else ``atol + rtol * |golden|``."""
    return float32_tol * np.max(np.abs(golden)) if float32_tol else atol + rtol * np.abs(golden)


def _values_pass(port, golden, rtol, atol, float32_tol):
    """Whether every element of ``port`` is within its :func:`_allowed` tolerance of ``golden``."""
    g = golden.astype(np.float64)
    return bool(np.all(np.abs(port.astype(np.float64) - g) <= _allowed(g, rtol, atol, float32_tol)))
