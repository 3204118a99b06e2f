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

    from ppo_ref.config import Config

    # The same command, started twice: the second finds the first's lock.
    busy = RunLog(str(tmp_path), Config(env_id="Pendulum-v1", total_timesteps=64, num_steps=32, num_minibatches=2,
                                        run_dir=str(tmp_path)).to_dict())
    try:
        with pytest.raises(SystemExit) as exit_:
            main(["train", "--env-id", "Pendulum-v1", "--total-timesteps", "64", "--num-steps", "32",
                  "--num-minibatches", "2", "--run-dir", str(tmp_path), "--no-progress"])
    finally:
        busy.close()
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (f"ppo-ref: error: {tmp_path} is in use by another training process; wait "
                                       "for it to end or choose another --run-dir\n")


def started_run(run_dir, cfg):
    """A run directory as a run killed before its first checkpoint leaves it."""
    from ppo_ref.run.runlog import RunLog

    log = RunLog(str(run_dir), {**cfg.to_dict(), "versions": {}})
    log.metrics({k: 1 for k in METRICS_FIELDS})
    log.close()
    return {p.name: p.read_bytes() for p in run_dir.iterdir()}


def test_a_new_run_refuses_the_start_of_another_run_and_keeps_it(tmp_path):
    from ppo_ref.config import Config
    from ppo_ref.run.layout import RunDirError

    cfg = Config(env_id="Hopper-v4", run_dir=str(tmp_path), learning_rate=1e-3)
    before = started_run(tmp_path, cfg)
    with pytest.raises(RunDirError, match=r"holds the start of another run \(learning_rate 0.001 there, 0.0003 here\)"):
        open_run(Config(env_id="Hopper-v4", run_dir=str(tmp_path)), None)
    with pytest.raises(RunDirError, match=r"\(seed 1 there, 2 here\)"):
        open_run(Config(env_id="Hopper-v4", run_dir=str(tmp_path), learning_rate=1e-3, seed=2), None)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    # The same run again (it never wrote a checkpoint), computed elsewhere or checkpointed more often: started anew.
    again = Config(env_id="Hopper-v4", run_dir=str(tmp_path), learning_rate=1e-3, thread_envs=True, checkpoint_every=1)
    assert open_run(again, None)[1] is None


def test_a_new_run_refuses_logs_without_a_config_and_a_broken_config(tmp_path):
    from ppo_ref.config import Config
    from ppo_ref.run.layout import RunDirError

    cfg = Config(env_id="Hopper-v4", run_dir=str(tmp_path))
    started_run(tmp_path, cfg)
    (tmp_path / "config.json").unlink()
    with pytest.raises(RunDirError, match="holds metrics.csv but no run's config"):
        open_run(cfg, None)
    (tmp_path / "config.json").write_text("{")
    with pytest.raises(RunDirError, match="holds a config.json a new run would replace: .* is not readable JSON"):
        open_run(cfg, None)
    (tmp_path / "config.json").write_text("")  # killed as it began to write it, with no row logged
    (tmp_path / "metrics.csv").write_text(",".join(METRICS_FIELDS) + "\r\n")
    assert open_run(cfg, None)[1] is None


class _Stop(Exception):
    pass


@pytest.mark.env
def test_a_checkpoint_resumed_in_a_folder_of_its_own_gets_its_config_json(tmp_path):
    import shutil

    from ppo_ref.config import Config
    from ppo_ref.run.layout import read_config
    from ppo_ref.train import train

    from conftest import quiet

    cfg = Config(env_id="Pendulum-v1", total_timesteps=128, num_steps=32, num_minibatches=2, checkpoint_every=1,
                 run_dir=str(tmp_path / "run"))

    def stop_at_2(state):
        if state.iteration == 2:
            raise _Stop

    with pytest.raises(_Stop):
        train(cfg, progress=False, log=quiet, callback=stop_at_2)
    (tmp_path / "alone").mkdir()
    shutil.copy(tmp_path / "run" / "checkpoint.npz", tmp_path / "alone")
    train(resume=str(tmp_path / "alone" / "checkpoint.npz"), progress=False, log=quiet)
    assert read_config(str(tmp_path / "alone")).to_dict() == {**cfg.to_dict(), "run_dir": str(tmp_path / "alone")}
