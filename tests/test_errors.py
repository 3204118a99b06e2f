"""User errors: one base class the CLI prints as one line, and the missing optional
package as its own error whose line says what to install."""

import ast
import os
import pathlib
import sys

import pytest

from ppo_ref.cli import main
from ppo_ref.config import ConfigError
from ppo_ref.envs.errors import EnvError
from ppo_ref.errors import MissingPackageError, UserError, import_optional, os_error_text
from ppo_ref.port.format import GoldenError
from ppo_ref.run.checkpoint import CheckpointError
from ppo_ref.run.compare import CompareError
from ppo_ref.run.layout import RunDirError
from ppo_ref.run.sweep import SweepError

ERRORS = pathlib.Path(__file__).parent.parent / "ppo_ref" / "errors.py"


@pytest.mark.parametrize("error", [ConfigError, EnvError, CheckpointError, GoldenError, SweepError, RunDirError,
                                   CompareError, MissingPackageError])
def test_every_specific_user_error_is_a_user_error(error):
    assert issubclass(error, UserError)


def test_the_errors_module_imports_nothing_of_ppo_ref():
    for node in ast.walk(ast.parse(ERRORS.read_text())):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0 and not node.module.startswith("ppo_ref"), node.module
        elif isinstance(node, ast.Import):
            assert not any(a.name.startswith("ppo_ref") for a in node.names)


def test_a_missing_package_names_the_extra_that_installs_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ppo_ref_absent_package", None)
    with pytest.raises(MissingPackageError) as err:
        import_optional("ppo_ref_absent_package.sub", "drawing", "plot", "or do without")
    assert str(err.value) == ("drawing needs ppo_ref_absent_package: pip install 'ppo_ref[plot]' "
                              "(or do without)")
    assert import_optional("json", "reading", "none") is sys.modules["json"]


def test_plot_without_matplotlib_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    from test_report import make_run

    run = make_run(tmp_path / "run", "Hopper-v4", True, [1.0, 2.0])
    with pytest.raises(SystemExit) as exit_:
        main(["plot", str(run), "--out", str(tmp_path / "out")])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "ppo-ref: error: ppo-ref plot needs matplotlib: pip install 'ppo_ref[plot]'\n"


def test_an_os_error_is_one_line_naming_its_files(tmp_path):
    missing = tmp_path / "absent"
    with pytest.raises(OSError) as one:
        open(missing)
    assert os_error_text(one.value) == f"No such file or directory: {missing}"
    with pytest.raises(OSError) as two:
        os.replace(missing, tmp_path / "target")
    assert os_error_text(two.value) == f"No such file or directory: {missing} -> {tmp_path / 'target'}"
    assert os_error_text(OSError("address already in use")) == "address already in use"


def test_a_file_where_a_folder_should_be_is_named(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    with pytest.raises(OSError) as itself:
        os.makedirs(blocker, exist_ok=True)
    assert os_error_text(itself.value) == f"{blocker} is a file, not a folder"
    with pytest.raises(OSError) as parent:
        os.makedirs(blocker / "run" / "deeper", exist_ok=True)
    assert os_error_text(parent.value) == f"{blocker / 'run'}: {blocker} is a file, not a folder"
    with pytest.raises(OSError) as inside:
        open(blocker / "agent.npz", "wb")
    assert os_error_text(inside.value) == f"{blocker / 'agent.npz'}: {blocker} is a file, not a folder"
    # A folder made twice is not "a file, not a folder".
    os.mkdir(tmp_path / "folder")
    with pytest.raises(OSError) as taken:
        os.mkdir(tmp_path / "folder")
    assert os_error_text(taken.value) == f"File exists: {tmp_path / 'folder'}"


def test_the_cli_prints_a_failed_rename_with_both_files(tmp_path, monkeypatch, capsys):
    def fail(args):
        os.replace(tmp_path / "absent", tmp_path / "target")

    monkeypatch.setattr("ppo_ref.cli._report", fail)
    with pytest.raises(SystemExit) as exit_:
        main(["report", str(tmp_path)])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (f"ppo-ref: error: No such file or directory: {tmp_path / 'absent'} -> "
                                       f"{tmp_path / 'target'}\n")


def test_ctrl_c_outside_training_is_one_line_and_exit_code_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr("ppo_ref.cli._report", interrupted)
    assert main(["report", "."]) == 130
    assert capsys.readouterr().err == "ppo-ref: interrupted\n"


@pytest.mark.env
def test_running_out_of_memory_is_one_line_naming_the_size(tmp_path, capsys):
    """A rollout buffer larger than the machine: numpy's message, on one line."""
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--env-id", "Pendulum-v1", "--num-steps", str(10**13), "--num-minibatches", "1",
              "--total-timesteps", str(10**13), "--run-dir", str(tmp_path / "run"), "--no-progress"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("ppo-ref: error: out of memory: Unable to allocate ") and err.count("\n") == 1, err
