"""The rule of train --resume, in one place: only the settings that choose where the
numbers are computed may be given, and a refusal comes before any file is read. A new
run's default directory and the lock that keeps a second process out of a run
directory in use."""

import json
import os

import pytest

from ppo_ref.config import HOW_TO_RUN, ConfigError
from ppo_ref.run.layout import METRICS_FIELDS
from ppo_ref.run.rundir import check_resume_settings, open_run


def test_the_settings_of_where_the_numbers_are_computed_are_accepted():
    check_resume_settings({name: True for name in HOW_TO_RUN})
    check_resume_settings({})


def test_any_other_setting_is_refused_naming_it(tmp_path):
    with pytest.raises(ConfigError) as err:
        open_run(None, str(tmp_path / "no such run"), {"seed": 3, "reference_core": True, "learning_rate": 1e-3})
    message = str(err.value)
    assert "do not also pass --seed, --learning-rate (only --async-envs, --thread-envs" in message
    assert "no such" not in message  # refused before the checkpoint is looked for


def test_runs_started_in_the_same_second_claim_two_directories(tmp_path, monkeypatch):
    from ppo_ref.config import Config
    from ppo_ref.run import rundir

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(rundir.time, "strftime", lambda fmt: "20261204-120000")
    cfg = Config(env_id="Hopper-v4", seed=3)
    assert [rundir.claim_run_dir(cfg) for _ in range(3)] == [
        "runs/Hopper-v4__3__20261204-120000", "runs/Hopper-v4__3__20261204-120000-2",
        "runs/Hopper-v4__3__20261204-120000-3"]
    assert sorted(os.listdir(tmp_path / "runs")) == ["Hopper-v4__3__20261204-120000",
                                                    "Hopper-v4__3__20261204-120000-2",
                                                    "Hopper-v4__3__20261204-120000-3"]


def test_a_run_directory_in_use_is_refused_before_any_file_changes(tmp_path):
    from ppo_ref.run.layout import RunDirError
    from ppo_ref.run.runlog import RunLog

    first = RunLog(str(tmp_path), {"env_id": "Hopper-v4"})
    first.metrics({k: 0 for k in METRICS_FIELDS})
    (tmp_path / "checkpoint.npz.tmp-99999").write_bytes(b"a checkpoint being written")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for resume_step in (None, 0):
        with pytest.raises(RunDirError, match=f"{tmp_path} is in use by another training process"):
            RunLog(str(tmp_path), {"env_id": "Walker2d-v4"}, resume_step=resume_step)
        assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    first.close()
    RunLog(str(tmp_path), {"env_id": "Walker2d-v4"}).close()  # free once the first has closed
    assert json.loads((tmp_path / "config.json").read_text()) == {"env_id": "Walker2d-v4"}


@pytest.mark.env
def test_train_into_a_run_directory_in_use_is_one_line(tmp_path, capsys):
    from ppo_ref.cli import main
    from ppo_ref.run.runlog import RunLog

    busy = RunLog(str(tmp_path), {"env_id": "Pendulum-v1"})
    try:
        with pytest.raises(SystemExit) as exit_:
            main(["train", "--env-id", "Pendulum-v1", "--total-timesteps", "64", "--num-steps", "32",
                  "--num-minibatches", "2", "--run-dir", str(tmp_path), "--no-progress"])
    finally:
        busy.close()
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (f"ppo-ref: error: {tmp_path} is in use by another training process; wait "
                                       "for it to end or choose another --run-dir\n")
