"""Golden test vectors: inputs and outputs of ppo_ref's numerical pieces, written to
disk so that a port in another language can be checked against them one named
tensor at a time (``ppo-ref check-port``, see :mod:`ppo_ref.port.check`).

``make golden`` (``ppo-ref golden tests/golden``) writes one ``.npz`` per case of
:mod:`ppo_ref.port.cases` and an ``index.json`` documenting every array and the
conventions below; the file format is in :mod:`ppo_ref.port.format`. Inputs are
drawn from numpy Generators with a fixed seed per case and stored with the
outputs, so a port never needs numpy's random streams.
"""

import json
import os

import numpy as np

from ppo_ref import __version__
from ppo_ref.npzio import write_bytes_atomic
from ppo_ref.port.cases import ACT_DIM, CASES, OBS_DIM
from ppo_ref.port.format import (FORMAT, FORMAT_VERSION, INDEX_NAME, GoldenError, dtype_name, index_bytes, npz_bytes,
                                 sha256)
from ppo_ref.core.agent import grad_norm_order, init_params
from ppo_ref.core.losses import ADV_EPS
from ppo_ref.core.optim import ADAM_BETA1, ADAM_BETA2, ADAM_EPS, GRAD_NORM_EPS

# The cases' parameter names in the order the global gradient norm sums.
GRAD_NORM_ORDER = tuple(grad_norm_order(init_params(np.random.default_rng(0), OBS_DIM, ACT_DIM)))

CONVENTIONS = {
    "arrays": "Little-endian float64 unless listed as int64 or bool; scalars are 0-d arrays.",
    "parameters": f"params/<name> in the canonical order pi.W0, pi.b0, pi.W1, pi.b1, pi.W2, pi.b2, v.W0, ..., "
                  f"v.b2, log_std; D = {OBS_DIM} observation dims, A = {ACT_DIM} action dims, hidden 64 x 64 tanh "
                  "(SPEC 1).",
    "weights": "Weights are (in, out): a layer computes y = x @ W + b. A PyTorch nn.Linear holds weight = W.T "
               "(out, in) and bias = b.",
    "gradients": "Every parameter-shaped group (params/, grads/, m/, v/, their *_after outputs, clipped_grads/) is "
                 "listed in the canonical order above. The global gradient norm sums each array's sum of squares "
                 f"as one running float64 in another order, backpropagation's: {', '.join(GRAD_NORM_ORDER)}; then "
                 "one square root (agent.grad_norm_order). The last bit of the norm depends on that order.",
    "advantages": f"With norm_adv, the advantages of each minibatch (not of the whole batch) are normalised as "
                  f"(A - mean(A)) / (std(A, ddof=1) + {ADV_EPS}): the sample standard deviation, eps added to the "
                  "std (not to the variance), and the result treated as a constant (no gradient flows through the "
                  "mean or the std).",
    "adam": f"beta1 = {ADAM_BETA1}, beta2 = {ADAM_BETA2}, eps = {ADAM_EPS} added to sqrt(v) / sqrt(1 - beta2^t), "
            "as torch.optim.Adam. The step count is incremented before the bias corrections: the input t counts "
            "the steps already taken, and a step uses t + 1 in 1 - beta1^(t+1) and 1 - beta2^(t+1). "
            f"Gradients are first scaled by min(1, max_grad_norm / (norm + {GRAD_NORM_EPS})) over all parameters "
            "together (SPEC 6).",
    "minibatches": "Epoch e walks permutations[e] in consecutive slices of B / num_minibatches: minibatch j uses "
                   "the rows permutations[e, j*mb:(j+1)*mb] of the batch arrays.",
    "observations": "obs arrays are network inputs, already normalised (SPEC 3): do not normalise them again.",
    "exact": "A case with exact = true is fixed bit for bit by the contract, docs/spec.md (elementwise IEEE "
             "operations in the order it writes them, SPEC 0.2). The others pass through matrix products, exp "
             "and log, whose last bits depend on the BLAS library and the CPU: compare them with a tolerance.",
    "roles": "Arrays of role 'input' are the arguments of the case's computation, those of role 'output' its "
             "results. Each case's .npz holds its golden outputs beside its inputs, and the same name can be an "
             "input of one case and an output of another (advantages, returns): a port selects the arrays it reads "
             "by role from this index, never by name alone or by reading the whole file.",
    "port_outputs": "A port writes every array of role 'output' to one .npz with keys '<case>/<array name>' and "
                    "checks it with: ppo-ref check-port VECTORS_DIR OUTPUTS.npz",
}


def build_case(case):
    """Draw a case's inputs from its seed and compute its outputs.

    Returns ``(arrays, entries)``: name -> array in index order, and the index.json
    entry of every array.
    """
    inputs = case.make_inputs(np.random.default_rng(case.seed))
    outputs = case.compute({name: arr for name, arr, _ in inputs})
    arrays, entries = {}, []
    for role, rows in (("input", inputs), ("output", outputs)):
        for name, arr, meaning in rows:
            if name in arrays:
                raise ValueError(f"case {case.name} has two arrays named {name!r}")
            arrays[name] = arr
            entries.append({"name": name, "role": role, "shape": list(arr.shape), "dtype": dtype_name(arr),
                            "meaning": meaning})
    return arrays, entries


def generate(out_dir):
    """Write every case's ``.npz`` and ``index.json`` to ``out_dir`` (created if
    missing), each file atomically; returns the index. Running it twice writes
    the same bytes. Refuses an ``out_dir`` whose index.json is not a golden index
    (of any format version), which it would replace."""
    _check_replaceable(os.path.join(out_dir, INDEX_NAME))
    os.makedirs(out_dir, exist_ok=True)
    cases = []
    for case in CASES:
        arrays, entries = build_case(case)
        data = npz_bytes(arrays)
        write_bytes_atomic(os.path.join(out_dir, f"{case.name}.npz"), data)
        cases.append({"name": case.name, "file": f"{case.name}.npz", "sha256": sha256(data), "seed": case.seed,
                      "exact": case.exact, "description": case.description, "arrays": entries})
    index = {"format": FORMAT, "format_version": FORMAT_VERSION, "ppo_ref_version": __version__,
             "conventions": CONVENTIONS, "cases": cases}
    write_bytes_atomic(os.path.join(out_dir, INDEX_NAME), index_bytes(index))
    return index


def _check_replaceable(index_path):
    if not os.path.isfile(index_path):
        return
    try:
        with open(index_path, "rb") as f:
            index = json.load(f)
    except ValueError:
        index = None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise GoldenError(f"{index_path} is not a ppo_ref golden index, and writing the vectors would replace it; "
                          "write them into a folder of their own")
