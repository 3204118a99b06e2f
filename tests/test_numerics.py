"""Portable numerics (SPEC 8.2): what ppo_ref pins before numpy loads, what it reads
back, how a run records it, and the one line where the pins cannot hold. The bits
themselves are held by tests/test_fingerprint.py."""

import json
import os
import subprocess
import sys

import pytest

from ppo_ref import numerics
from ppo_ref.cli import main
from ppo_ref.run import checkpoint as ckpt

pytestmark = pytest.mark.subprocess

TINY = ["--env-id", "Hopper-v4", "--total-timesteps", "256", "--num-steps", "128", "--num-minibatches", "2",
        "--update-epochs", "1"]
OUTER = ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "NPY_DISABLE_CPU_FEATURES", numerics.MODE_VARIABLE)
in_domain = pytest.mark.skipif(numerics._machine_problem() is not None,
                               reason=f"outside the portable domain: {numerics._machine_problem()}")


def run(args, **env):
    """A Python process with ``args`` and the outer numerics variables ``env`` alone."""
    base = {k: v for k, v in os.environ.items() if k not in OUTER}
    return subprocess.run([sys.executable, *args], env={**base, **env}, capture_output=True, text=True)


def recorded(run_dir):
    with open(os.path.join(run_dir, "config.json")) as f:
        return json.load(f)["versions"]["numerics"]


@in_domain
def test_the_test_suite_itself_runs_in_portable_numerics():
    st = numerics.status()
    assert st["numerics"] == numerics.PORTABLE, numerics.describe()
    assert st["blas"].endswith("Haswell kernel") and st["blas_threads"] == [1] and st["simd"] == "X86_V3"


@in_domain
def test_an_outer_setting_does_not_leak_in():
    out = run(["-c", "import ppo_ref, json; from ppo_ref import numerics; print(json.dumps(numerics.status()))"],
              OPENBLAS_CORETYPE="Sandybridge", OPENBLAS_NUM_THREADS="2", NPY_DISABLE_CPU_FEATURES="")
    st = json.loads(out.stdout)
    assert st["numerics"] == numerics.PORTABLE and st["blas"].endswith("Haswell kernel"), st


def test_numpy_loaded_first_is_said_in_one_line_and_recorded_as_native():
    code = ("import numpy, ppo_ref; from ppo_ref import numerics; numerics.announce(print); "
            "numerics.announce(print); print(numerics.record()['numerics'])")
    out = run(["-c", code], OPENBLAS_CORETYPE="Sandybridge")
    lines = out.stdout.splitlines()
    assert len(lines) == 2, out.stdout  # announced once
    assert "portable numerics do not hold here: numpy was loaded before ppo_ref" in lines[0]
    assert "Sandybridge kernel" in lines[0] and "recording the run as native" in lines[0]
    assert lines[1] == "native"


def test_native_numerics_leave_the_machine_s_choice_alone():
    code = "import ppo_ref; from ppo_ref import numerics; print(numerics.describe()); numerics.announce(print)"
    out = run(["-c", code], PPO_REF_NUMERICS="native", OPENBLAS_CORETYPE="Sandybridge")
    assert out.stdout.splitlines() == [out.stdout.splitlines()[0]]  # asked for: nothing to announce
    assert out.stdout.startswith("native (") and "Sandybridge kernel" in out.stdout


def test_an_unknown_numerics_mode_is_refused_naming_the_value():
    out = run(["-c", "import ppo_ref"], PPO_REF_NUMERICS="fast")
    assert out.returncode != 0
    assert "PPO_REF_NUMERICS ('fast') must be one of portable, native" in out.stderr.splitlines()[-1]


@in_domain
def test_child_processes_get_this_process_s_numerics():
    assert numerics.child_env() == {numerics.MODE_VARIABLE: "portable", **numerics.PINS}


@in_domain
def test_the_cli_records_its_numerics_and_resume_on_others_says_so_and_goes_on(tmp_path):
    run_dir = str(tmp_path / "run")
    out = run(["-m", "ppo_ref", "train", *TINY, "--run-dir", run_dir, "--native-numerics"],
              OPENBLAS_CORETYPE="Sandybridge")
    assert out.returncode == 0, out.stderr
    rec = recorded(run_dir)
    assert rec["numerics"] == "native" and rec["blas"].endswith("Sandybridge kernel"), rec
    out = run(["-m", "ppo_ref", "train", "--resume", run_dir])  # portable numerics now
    assert out.returncode == 0, out.stderr
    note = [line for line in out.stdout.splitlines() if "will not be bit for bit" in line]
    assert len(note) == 1 and "numerics native (openblas" in note[0] and "-> portable x86-64-v3" in note[0], out.stdout
    assert int(ckpt.load(run_dir)["iteration"]) == 2  # the checkpoint is intact
    out = run(["-m", "ppo_ref", "train", "--resume", run_dir, "--native-numerics"], OPENBLAS_CORETYPE="Sandybridge")
    assert out.returncode == 0 and "will not be bit for bit" not in out.stdout, out.stdout


@in_domain
def test_the_cli_started_after_numpy_starts_afresh_in_portable_numerics(tmp_path):
    run_dir = str(tmp_path / "run")
    code = "import numpy, sys; from ppo_ref.cli import main; sys.exit(main())"
    out = run(["-c", code, "train", *TINY, "--run-dir", run_dir], OPENBLAS_CORETYPE="Sandybridge")
    assert out.returncode == 0, out.stderr
    assert "do not hold" not in out.stdout + out.stderr
    assert recorded(run_dir)["numerics"] == numerics.PORTABLE


def test_native_numerics_cannot_be_chosen_inside_a_process_that_computes_already(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", *TINY, "--run-dir", str(tmp_path / "run"), "--native-numerics"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "set PPO_REF_NUMERICS=native before importing ppo_ref" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("flags, missing", [({"sse2", "avx", "fma"}, "AVX2"), ({"sse2", "avx2"}, "FMA")])
def test_a_cpu_without_avx2_or_fma_is_not_pinned_and_says_why(flags, missing):
    """Forcing the Haswell kernel on such a CPU would stop the process (an illegal
    instruction): numerics.py, loaded on its own before numpy, with the CPU's flags
    replaced, sets no variable, and the run is recorded as native with the reason."""
    code = f"""
import importlib.util, json, os, sys
spec = importlib.util.spec_from_file_location("numerics_alone", {numerics.__file__!r})
n = importlib.util.module_from_spec(spec)
spec.loader.exec_module(n)
n._cpu_flags = lambda: {flags!r}
n.pin()
print(json.dumps({{"pinned": [k for k in n.PINS if k in os.environ], "status": n.status()}}))
"""
    out = run(["-c", code])
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["pinned"] == []
    assert got["status"]["numerics"] == "native" and f"the CPU lacks {missing}" in got["status"]["reason"]
