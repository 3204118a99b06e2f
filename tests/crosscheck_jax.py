"""The JAX side of tests/test_crosscheck.py, run in a process of its own: JAX starts
threads, and the test process forks (subprocess envs, the training tests), which
is unsafe in a multithreaded process. So JAX is never imported into the tests'
process; this script computes everything the cross-check needs in one run.

    python tests/crosscheck_jax.py TASKS_JSON INPUTS_NPZ OUTPUTS_NPZ

TASKS_JSON maps each task name to its kind; INPUTS_NPZ holds each task's arrays
as ``"<task>/<array>"``, named as the golden cases name them; OUTPUTS_NPZ gets the
results the same way. The kinds are the example port's golden cases, plus the
derivatives at the kinks and the measurement of ``jnp.clip``.
"""

import importlib.util
import json
import os
import pathlib
import sys

import numpy as np

os.environ.setdefault("JAX_PLATFORMS", "cpu")
PORT_PATH = pathlib.Path(__file__).resolve().parent.parent / "examples" / "jax_port" / "port.py"


def load_port():
    spec = importlib.util.spec_from_file_location("jax_port", PORT_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


port = load_port()
jax, jnp = port.jax, port.jnp


def surrogate_at_kinks(x):
    """The surrogate's terms and their derivative in the ratio, on the given ratios."""
    ratio, adv, eps = x["ratio"], x["adv"], float(x["clip_coef"])
    return {"terms": port.surrogate_terms(ratio, adv, eps),
            "dratio": jax.grad(lambda r: port.surrogate_terms(r, adv, eps).sum())(ratio)}


def value_at_kinks(x):
    """The value loss's terms and their derivative in v, on the given values."""
    v, v_old, ret, eps, clip_vloss = x["v"], x["values_old"], x["returns"], float(x["clip_coef"]), bool(x["clip_vloss"])
    return {"terms": port.value_terms(v, v_old, ret, eps, clip_vloss),
            "dv": jax.grad(lambda y: port.value_terms(y, v_old, ret, eps, clip_vloss).sum())(v)}


def jnp_clip_at_bounds(x):
    """jax.grad of jnp.clip, of the port's clip and of the surrogate written with
    jnp.clip (A = 2), at each of ``points`` for the range [lo, hi]; and the gradient
    of jnp.maximum at a tie."""
    lo, hi = float(x["lo"]), float(x["hi"])

    def each(f):
        return np.array([float(jax.grad(f)(float(p))) for p in x["points"]])

    return {"jnp_clip": each(lambda r: jnp.clip(r, lo, hi)),
            "port_clip": each(lambda r: port.clip(r, lo, hi)),
            "jnp_surrogate": each(lambda r: jnp.maximum(-2.0 * r, -2.0 * jnp.clip(r, lo, hi))),
            "maximum_tie": np.array([float(g) for g in jax.grad(jnp.maximum, argnums=(0, 1))(1.0, 1.0)])}


KINDS = {"gaussian": port.case_gaussian, "gae": port.case_gae, "loss": port.case_loss, "adam": port.case_adam,
         "update": port.case_update, "surrogate_kinks": surrogate_at_kinks, "value_kinks": value_at_kinks,
         "jnp_clip": jnp_clip_at_bounds}


def main(tasks_json, inputs_npz, outputs_npz):
    with open(tasks_json, encoding="utf-8") as f:
        tasks = json.load(f)
    outputs = {}
    with np.load(inputs_npz, allow_pickle=False) as npz:
        for task, kind in tasks.items():
            x = {k[len(task) + 1:]: npz[k] for k in npz.files if k.startswith(task + "/")}
            outputs.update({f"{task}/{k}": np.asarray(a) for k, a in KINDS[kind](x).items()})
    with open(outputs_npz, "wb") as f:
        np.savez(f, **outputs)
    print(f"jax {jax.__version__}: {len(tasks)} tasks")


if __name__ == "__main__":
    main(*sys.argv[1:])
