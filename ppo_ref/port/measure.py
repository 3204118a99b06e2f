"""How far a correct float32 computation of the golden cases lands from the float64
golden outputs: the measurement behind ``ppo-ref check-port --float32``.

The computation is the reference core itself on the cases' inputs cast to float32
(integers and flags kept): the core keeps float32 inputs in float32, as
``train --dtype float32`` runs it (SPEC 0.4), and the few Python floats it returns
(losses, diagnostics, norms) are rounded to float32 as a port would write them.

    python -m ppo_ref.port.measure tests/golden

prints, per case, the worst tensor's error on its own scale,
``max |float32 - golden| / max |golden|``, the same on inputs nudged by one ulp, and
the tolerance they give (:data:`ppo_ref.port.check.FLOAT32_TOL`); the table is in
docs/porting.md §17. It runs in portable numerics (SPEC 8.2), so it prints the same
table on every machine of the portable domain.
"""

import sys

import numpy as np

from ppo_ref.port.cases import CASES
from ppo_ref.port.format import load_case, read_index

F32 = np.float32
NUDGE_TRIALS, NUDGE_SEED = 20, 0
_CASES = {case.name: case for case in CASES}


def compute(case, arrays, nudge=None):
    """The outputs of ``case`` (an index entry) computed by the core in float32 from
    its inputs in ``arrays``: name -> array. ``nudge``, a numpy Generator: move each
    element of each float32 input array (not the 0-d hyperparameters) one ulp down,
    not at all or one ulp up, at random; the cases that are not ``nudgeable`` (the
    kink cases) are computed from their inputs as they are."""
    inputs = {a["name"]: arrays[a["name"]] for a in case["arrays"] if a["role"] == "input"}
    inputs = {k: a.astype(F32) if a.dtype.kind == "f" else a.copy() for k, a in inputs.items()}
    if nudge is not None and _CASES[case["name"]].nudgeable:
        for k, a in inputs.items():
            if a.dtype == F32 and a.ndim:
                step = nudge.integers(-1, 2, a.shape)
                inputs[k] = np.where(step == 0, a, np.nextafter(a, np.where(step > 0, F32(np.inf), F32(-np.inf))))
    outputs = {}
    for name, arr, _ in _CASES[case["name"]].compute(inputs):
        arr = np.asarray(arr)
        if arr.dtype == np.float64:
            if arr.ndim and not _CASES[case["name"]].keeps_float64(name):
                raise AssertionError(f"{case['name']}/{name} was computed in float64, not float32")
            arr = arr.astype(F32)  # a scalar the core returns as a Python float, or what float32 runs keep in float64
        outputs[name] = arr
    return outputs


def port_outputs(vectors_dir, cases=None):
    """Every output of the named ``cases`` (default all) computed in float32, keyed
    ``"<case>/<name>"`` as a port writes them."""
    out = {}
    for case in read_index(vectors_dir)["cases"]:
        if cases is None or case["name"] in cases:
            out.update({f"{case['name']}/{k}": a for k, a in compute(case, load_case(vectors_dir, case)).items()})
    return out


def scaled_error(port, golden):
    """``max |port - golden| / max |golden|``: the error on the tensor's own scale
    (the absolute error when the golden tensor is all zeros)."""
    diff = np.max(np.abs(np.asarray(port, np.float64) - golden)) if golden.size else 0.0
    scale = np.max(np.abs(golden)) if golden.size else 0.0
    return float(diff / scale) if scale > 0 else float(diff)


def measure(vectors_dir, nudge=None):
    """``[(case, name, scaled error)]`` of the float32 computation, in index order
    (``nudge``: see :func:`compute`)."""
    rows = []
    for case in read_index(vectors_dir)["cases"]:
        arrays = load_case(vectors_dir, case)
        outputs = compute(case, arrays, nudge)
        rows += [(case["name"], a["name"], scaled_error(outputs[a["name"]], arrays[a["name"]]))
                 for a in case["arrays"] if a["role"] == "output"]
    return rows


def worst_per_case(rows):
    """``{case: (name, scaled error)}``: each case's worst tensor."""
    worst = {}
    for case, name, err in rows:
        if case not in worst or err > worst[case][1]:
            worst[case] = (name, err)
    return worst


def table(vectors_dir):
    """The measurement as Markdown: per case the worst tensor of the float32
    computation and its scaled error; the worst over NUDGE_TRIALS runs on inputs
    nudged by one ulp; and the tolerance this gives."""
    from ppo_ref.port.check import FLOAT32_CASE_TOLS, FLOAT32_MARGIN, FLOAT32_NUDGE_MARGIN, FLOAT32_TOL

    measured = worst_per_case(measure(vectors_dir))
    rng = np.random.default_rng(NUDGE_SEED)
    nudged = {}
    for _ in range(NUDGE_TRIALS):
        for case, (_, err) in worst_per_case(measure(vectors_dir, rng)).items():
            nudged[case] = max(nudged.get(case, 0.0), err)
    lines = ["| case | worst tensor | max abs error / max abs golden | the same, inputs nudged by 1 ulp "
             f"(worst of {NUDGE_TRIALS}) |", "|---|---|---|---|"]
    lines += [f"| {case} | {name} | {err:.2e} | {nudged[case]:.2e} |" for case, (name, err) in measured.items()]
    lines.append("")
    for label, group, tol in tolerance_groups(measured, FLOAT32_CASE_TOLS, FLOAT32_TOL):
        case, (name, worst) = max(((c, measured[c]) for c in group), key=lambda item: item[1][1])
        worst_nudged = max(nudged[c] for c in group)
        lines.append(f"{label}: worst {worst:.2e} ({case}/{name}); x {FLOAT32_MARGIN} = {worst * FLOAT32_MARGIN:.2e}; "
                     f"nudged: {worst_nudged:.2e}, x {FLOAT32_NUDGE_MARGIN} = "
                     f"{worst_nudged * FLOAT32_NUDGE_MARGIN:.2e}; tolerance {tol:g}, the larger rounded up.")
    return "\n".join(lines)


def tolerance_groups(cases, case_tols, default_tol):
    """``[(label, case names, tolerance)]``: the cases judged with the default
    tolerance, then each case with one of its own."""
    rest = [c for c in cases if c not in case_tols]
    return [("Every other case", rest, default_tol)] + [(c, [c], tol) for c, tol in case_tols.items() if c in cases]


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m ppo_ref.port.measure VECTORS_DIR", file=sys.stderr)
        return 2
    print(table(args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
