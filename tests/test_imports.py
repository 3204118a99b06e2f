"""The porting kit runs without the simulator: writing and checking golden vectors,
exporting to PyTorch and replaying an update import neither gymnasium nor MuJoCo
(a porter's machine may have neither), and the reference core imports nothing of
ppo_ref outside ppo_ref/core."""

import ast
import pathlib
import subprocess
import sys

import pytest

from conftest import train_tiny

pytestmark = pytest.mark.subprocess

SIMULATOR = ("gymnasium", "mujoco")
AUDIT = """
import sys
from ppo_ref.cli import main
code = main(sys.argv[1:])
loaded = sorted({m.split(".")[0] for m in sys.modules} & {%r, %r})
print("loaded:", ",".join(loaded))
sys.exit(code)
""" % SIMULATOR


def run_audited(*args):
    return subprocess.run([sys.executable, "-c", AUDIT, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run") / "hopper"
    train_tiny(run_dir)
    return run_dir


def test_golden_check_port_and_export_import_no_simulator(tmp_path, checkpoint_dir):
    vectors = tmp_path / "vectors"
    for args in (["golden", str(vectors)], ["export-torch", str(checkpoint_dir), str(tmp_path / "agent.npz")]):
        proc = run_audited(*args)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip().endswith("loaded:"), proc.stdout
    # An outputs file holding none of the expected tensors: check-port runs and says so.
    (tmp_path / "unrelated.npz").write_bytes((tmp_path / "agent.npz").read_bytes())
    proc = run_audited("check-port", str(vectors), str(tmp_path / "unrelated.npz"))
    assert proc.returncode == 1 and "missing" in proc.stderr, proc.stderr
    assert proc.stdout.strip().endswith("loaded:"), proc.stdout


def test_the_update_imports_no_simulator():
    code = "import sys, ppo_ref.update; print(sorted({m.split('.')[0] for m in sys.modules} & %r))" % (set(SIMULATOR),)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_the_core_imports_only_itself_and_numpy():
    core = pathlib.Path(__file__).parent.parent / "ppo_ref" / "core"
    for path in sorted(core.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = ["." if node.level else node.module]
            else:
                continue
            for name in names:
                assert name in (".", "numpy", "numbers", "dataclasses", "functools", "inspect"), f"{path.name} imports {name}"
