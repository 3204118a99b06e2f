"""TensorBoard logging under CleanRL's tag names, read back with TensorBoard's own
reader: live (train --tensorboard) and converted from the CSVs (ppo-ref tensorboard)."""

import math
import os
import sys

import pytest

from ppo_ref.cli import main
from ppo_ref.config import Config
from ppo_ref.errors import MissingPackageError
from ppo_ref.run.layout import read_csv
from ppo_ref.train import train

from conftest import quiet

pytestmark = pytest.mark.env

event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator",
    reason="the tensorboard package is not installed (pip install 'ppo_ref[tensorboard]')")

CLEANRL_TAGS = {  # metrics.csv column -> tag of CleanRL's ppo_continuous_action.py
    "learning_rate": "charts/learning_rate", "v_loss": "losses/value_loss", "pg_loss": "losses/policy_loss",
    "entropy": "losses/entropy", "approx_kl": "losses/approx_kl", "clipfrac": "losses/clipfrac",
    "explained_variance": "losses/explained_variance",
}


def read_events(path):
    """{tag: [(step, value), ...]} of an event file or a directory of them."""
    acc = event_accumulator.EventAccumulator(str(path), size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def f32(x):
    """What a TensorBoard scalar holds of a float: its float32 rounding."""
    import numpy as np
    return float(np.float32(x))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tb") / "run"
    train(Config(env_id="Hopper-v5", total_timesteps=3 * 256, num_steps=256, num_minibatches=4, update_epochs=1,
                 tensorboard=True, run_dir=str(path)), progress=False, log=quiet)
    return path


def check_against_csvs(events, run_dir):
    metrics = read_csv(run_dir / "metrics.csv")
    episodes = read_csv(run_dir / "episodes.csv")
    assert len(metrics) == 3 and episodes
    for column, tag in CLEANRL_TAGS.items():
        assert events[tag] == [(int(r["global_step"]), f32(r[column])) for r in metrics], tag
    assert events["charts/SPS"] == [(int(r["global_step"]), int(r["global_step"] / r["wall_time"]))
                                    for r in metrics]
    assert events["charts/episodic_return"] == [(int(e["global_step"]), f32(e["return"])) for e in episodes]
    assert events["charts/episodic_length"] == [(int(e["global_step"]), e["length"]) for e in episodes]
    assert "losses/old_approx_kl" not in events  # not computed by ppo_ref: docs/tensorboard.md


def test_train_writes_cleanrl_tags_that_match_the_csvs(run_dir):
    files = [f for f in os.listdir(run_dir) if f.startswith("events.out.tfevents.")]
    assert len(files) == 1
    check_against_csvs(read_events(run_dir / files[0]), run_dir)


def test_converted_csvs_give_the_same_scalars(run_dir, tmp_path, capsys):
    assert main(["tensorboard", str(run_dir), "--out", str(tmp_path)]) == 0
    path = capsys.readouterr().out.strip()
    assert os.path.dirname(path) == str(tmp_path / "run")
    check_against_csvs(read_events(path), run_dir)
    # Converting again replaces the earlier conversion instead of adding a second file.
    assert main(["tensorboard", str(run_dir), "--out", str(tmp_path)]) == 0
    assert len(os.listdir(tmp_path / "run")) == 1


def test_converting_into_a_run_with_live_events_is_refused(run_dir, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["tensorboard", str(run_dir)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--out" in err and err.count("\n") == 1


def test_without_the_extra_one_line_says_how_to_install_it(tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "tensorboard" or m.startswith("tensorboard.")]:
        monkeypatch.setitem(sys.modules, name, None)  # as if it were not installed
    with pytest.raises(MissingPackageError, match=r"pip install 'ppo_ref\[tensorboard\]'"):
        train(Config(env_id="Hopper-v5", total_timesteps=256, num_steps=256, num_minibatches=4, tensorboard=True,
                     run_dir=str(tmp_path / "r")), progress=False, log=quiet)
    assert not os.path.exists(tmp_path / "r")


def test_a_resumed_run_reads_back_like_its_csvs(tmp_path):
    """A crash after iteration 3 was logged, with the checkpoint at iteration 2: the
    resumed run's restart marker drops the crashed process's iteration 3, and the
    directory reads back exactly like the CSVs (which the resume truncated too)."""
    cfg = Config(env_id="Hopper-v5", total_timesteps=3 * 256, num_steps=256, num_minibatches=4, update_epochs=1,
                 checkpoint_every=2, tensorboard=True, run_dir=str(tmp_path / "run"))

    def crash(state):
        if state.iteration == 3:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        train(cfg, progress=False, log=quiet, callback=crash)
    train(resume=str(tmp_path / "run"), progress=False, log=quiet)
    check_against_csvs(read_events(tmp_path / "run"), tmp_path / "run")


def test_runs_of_the_same_name_and_folders_of_runs_convert_side_by_side(run_dir, tmp_path, capsys):
    """Like docs/results: ENV/seed1, ENV/seed2 ... given as the folder that holds
    them, or one by one with the same last name: each gets its own folder."""
    import shutil
    for env in ("A-v5", "B-v5"):
        for seed in ("seed1", "seed2"):
            dst = tmp_path / "results" / env / seed
            dst.mkdir(parents=True)
            for name in ("config.json", "metrics.csv", "episodes.csv"):
                shutil.copy(run_dir / name, dst / name)
    assert main(["tensorboard", str(tmp_path / "results" / "A-v5"), str(tmp_path / "results" / "B-v5" / "seed1"),
                 "--out", str(tmp_path / "tb")]) == 0
    paths = capsys.readouterr().out.split()
    assert [os.path.relpath(os.path.dirname(p), tmp_path / "tb") for p in paths] == [
        "A-v5/seed1", "A-v5/seed2", "B-v5/seed1"]
    for p in paths:
        check_against_csvs(read_events(p), run_dir)
