"""The porting kit runs without the simulator: writing and checking golden vectors,
exporting to PyTorch and replaying an update import neither gymnasium nor MuJoCo
(a porter's machine may have neither), and the reference core imports nothing of
ppo_ref outside ppo_ref/core."""

import ast
import pathlib
import subprocess
import sys

import pytest


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


def test_golden_check_port_and_export_import_no_simulator(tmp_path, tiny_run):
    vectors = tmp_path / "vectors"
    for args in (["golden", str(vectors)], ["export-torch", str(tiny_run), str(tmp_path / "agent.npz")]):
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
                allowed = (".", "numpy", "numbers", "dataclasses", "functools", "inspect")
                assert name in allowed, f"{path.name} imports {name}"


PACKAGE = pathlib.Path(__file__).parent.parent / "ppo_ref"


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def ppo_ref_imports(path, modules):
    """The ppo_ref modules that the module at ``path`` imports, at its top or inside
    a function: ``from ppo_ref.run import layout`` imports ppo_ref.run.layout."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return found & set(modules)


def import_cycle(graph):
    """A cycle of the graph ``{module: imported modules}`` as a list, or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt, path + [nxt])
                if cycle:
                    return cycle
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node, [node])
            if cycle:
                return cycle
    return None


def test_the_cycle_finder_finds_a_cycle_and_only_a_cycle():
    assert import_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert import_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_circle_in_the_package():
    """Every import in ppo_ref points down: no module imports, directly or through
    others, a module that imports it (function-level imports count too)."""
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p): p for p in paths}
    graph = {name: ppo_ref_imports(path, modules) - {name} for name, path in modules.items()}
    assert "ppo_ref.run.layout" in graph["ppo_ref.run.runlog"]  # the graph sees what the modules import
    assert "ppo_ref.core.mlp" in graph["ppo_ref.core.agent"]  # relative imports too
    cycle = import_cycle(graph)
    assert cycle is None, " -> ".join(cycle)
