"""The committed fingerprint (SPEC 8.2): short training runs in portable numerics give
the same bits on every x86-64 CPU with AVX2 and FMA, whatever the outer environment
asks of OpenBLAS and numpy; another kernel or SIMD level in native numerics does not.

The runs are in tests/fingerprint_run.py, run in a subprocess so that each gets the
numerics its environment asks for. FINGERPRINT was printed by that script in portable
numerics with the versions of constraints.txt; a deliberate change of numbers
updates it with the golden vectors (CHANGELOG).
"""

import json
import os
import subprocess
import sys

import pytest

from ppo_ref import numerics

pytestmark = pytest.mark.subprocess

FINGERPRINT = "56c2580118832f1efde5b683dadaccd17295a6463988c5eb1d38af7fc52a73e2"
SCRIPT = os.path.join(os.path.dirname(__file__), "fingerprint_run.py")
OUTER = ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "NPY_DISABLE_CPU_FEATURES", numerics.MODE_VARIABLE)

in_domain = pytest.mark.skipif(numerics._machine_problem() is not None,
                               reason=f"outside the portable domain: {numerics._machine_problem()}")


def _cpu_has(flag):
    return flag in (numerics._cpu_flags() or ())


def fingerprint(tmp_path, **env):
    """The script's output with ``env`` as the outer environment's numerics
    variables (the others of this process's environment removed)."""
    base = {k: v for k, v in os.environ.items() if k not in OUTER}
    out = subprocess.run([sys.executable, SCRIPT, str(tmp_path / "runs")], env={**base, **env},
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@in_domain
@pytest.mark.parametrize("outer", [{}, {"OPENBLAS_CORETYPE": "Sandybridge", "OPENBLAS_NUM_THREADS": "2"},
                                   {"OPENBLAS_CORETYPE": "SkylakeX", "NPY_DISABLE_CPU_FEATURES": ""}],
                         ids=["no variable set", "another kernel asked for", "AVX-512 kernel asked for"])
def test_portable_runs_give_the_committed_fingerprint(tmp_path, outer):
    got = fingerprint(tmp_path, **outer)
    assert got["numerics"] == numerics.PORTABLE, f"portable numerics do not hold: {got['numerics']}"
    assert got["fingerprint"] == FINGERPRINT, (
        f"the short runs' fingerprint is {got['fingerprint']}, committed {FINGERPRINT}, in {got['numerics']}: "
        "portability breaks on this machine, or the numbers changed (then update it with the golden vectors)")


@in_domain
def test_the_short_hopper_run_both_truncates_and_terminates(tmp_path):
    got = fingerprint(tmp_path)
    assert got["truncated"] > 0 and got["terminated"] > 0, got


@in_domain
@pytest.mark.parametrize("native", [
    pytest.param({"OPENBLAS_CORETYPE": "Sandybridge"}, id="Sandybridge kernel"),
    pytest.param({"OPENBLAS_CORETYPE": "SkylakeX"}, id="SkylakeX kernel",
                 marks=pytest.mark.skipif(not _cpu_has("avx512f"), reason="needs AVX-512")),
    pytest.param({"NPY_DISABLE_CPU_FEATURES": ""}, id="numpy's SIMD uncapped",
                 marks=pytest.mark.skipif(not _cpu_has("avx512f"), reason="needs a SIMD level above x86-64-v3")),
])
def test_another_code_path_in_native_numerics_gives_another_fingerprint(tmp_path, native):
    """The fingerprint has teeth: each pin, changed alone, changes the bits."""
    env = {**numerics.PINS, **native, numerics.MODE_VARIABLE: "native"}
    got = fingerprint(tmp_path, **env)
    assert got["numerics"].startswith("native")
    assert got["fingerprint"] != FINGERPRINT


@in_domain
def test_native_numerics_with_the_portable_settings_give_the_committed_fingerprint(tmp_path):
    """What makes the numbers is the code path, not the mode's name."""
    got = fingerprint(tmp_path, **numerics.PINS, **{numerics.MODE_VARIABLE: "native"})
    assert got["fingerprint"] == FINGERPRINT
