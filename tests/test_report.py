"""Results tables and learning curves from run directories."""

import csv
import json

import numpy as np
import pytest

from ppo_ref.run.curves import trailing_mean_curve
from ppo_ref.run.report import table


def test_trailing_mean_curve_by_hand():
    steps, returns = [10, 20, 30, 40], [1.0, 3.0, 5.0, 7.0]
    curve = trailing_mean_curve(steps, returns, [5, 10, 25, 40, 100], window=2)
    # before any episode: NaN; at 10: [1]; at 25: [1, 3]; at 40: [5, 7]; at 100: [5, 7]
    np.testing.assert_array_equal(curve, [np.nan, 1.0, 2.0, 6.0, 6.0])


def make_run(path, env_id, bootstrap, returns, eval_return=None, dtype=None, **settings):
    path.mkdir(parents=True)
    config = {"env_id": env_id, "bootstrap_truncation": bootstrap, **settings}
    if dtype is not None:  # configs written before --dtype existed have none
        config["dtype"] = dtype
    (path / "config.json").write_text(json.dumps(config))
    with open(path / "episodes.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["global_step", "return", "length"])
        for i, r in enumerate(returns):
            w.writerow([10 * (i + 1), r, 5])
    with open(path / "metrics.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["iteration", "global_step", "wall_time", "steps_per_second"])
        w.writerow([1, 10 * len(returns), 120.0, 1000.0])
    if eval_return is not None:
        (path / "eval.txt").write_text(f"10 episodes (deterministic): return {eval_return} +- 1.00\n")
    return path


def test_table_groups_seeds_and_truncation_settings(tmp_path):
    runs = [
        make_run(tmp_path / "a", "Hopper-v4", True, [0.0] * 50 + [100.0] * 100, eval_return=200.0, seed=1),
        make_run(tmp_path / "b", "Hopper-v4", True, [300.0] * 100, eval_return=400.0, seed=2),
        make_run(tmp_path / "c", "Hopper-v4", False, [7.0] * 10),
        make_run(tmp_path / "d", "Hopper-v4", True, [9.0] * 10, dtype="float32"),
        make_run(tmp_path / "e", "Hopper-v4", True, [100.0] * 100, dtype="float64", seed=3),
    ]
    rows = table([str(r) for r in runs]).splitlines()
    assert rows[2] == "| Hopper-v4 | 3 | 167 +- 94 | 300 +- 100 | 2.0 min | 1000 |"
    assert rows[3] == "| Hopper-v4 (float32) | 1 | 9 +- 0 | n/a | 2.0 min | 1000 |"
    assert rows[4] == "| Hopper-v4 (no truncation bootstrap) | 1 | 7 +- 0 | n/a | 2.0 min | 1000 |"


def test_runs_that_differ_in_any_setting_but_the_seed_are_not_seeds_of_one_row(tmp_path):
    """A sweep's --vary learning_rate variants: a row each, labelled with the setting in
    which they differ; the seed, the checkpoint interval and where the numbers were
    computed do not make runs different."""
    runs = [
        make_run(tmp_path / "a", "Hopper-v4", True, [100.0] * 100, learning_rate=3e-4, seed=1),
        make_run(tmp_path / "b", "Hopper-v4", True, [200.0] * 100, learning_rate=3e-4, seed=2, checkpoint_every=5,
                 thread_envs=True),
        make_run(tmp_path / "c", "Hopper-v4", True, [7.0] * 100, learning_rate=1e-3, seed=1),
        make_run(tmp_path / "d", "Walker2d-v4", True, [5.0] * 100, learning_rate=1e-3, seed=1),
    ]
    runs.append(make_run(tmp_path / "e", "Walker2d-v4", True, [9.0] * 100, learning_rate=3e-3, seed=1))
    rows = table([str(r) for r in runs]).splitlines()
    # Noted: the settings in which an env's groups differ, where they are not the default.
    assert rows[2:] == ["| Hopper-v4 | 2 | 150 +- 50 | n/a | 2.0 min | 1000 |",
                        "| Hopper-v4 (learning_rate=0.001) | 1 | 7 +- 0 | n/a | 2.0 min | 1000 |",
                        "| Walker2d-v4 (learning_rate=0.001) | 1 | 5 +- 0 | n/a | 2.0 min | 1000 |",
                        "| Walker2d-v4 (learning_rate=0.003) | 1 | 9 +- 0 | n/a | 2.0 min | 1000 |"]


def test_plot_writes_one_png_per_setting(tmp_path):
    pytest.importorskip("matplotlib")
    from ppo_ref.run.report import plot

    runs = [make_run(tmp_path / "a", "Hopper-v4", True, list(range(50))),
            make_run(tmp_path / "b", "Hopper-v4", False, list(range(50))),
            make_run(tmp_path / "c", "Hopper-v4", True, list(range(50)), dtype="float32"),
            make_run(tmp_path / "d", "Hopper-v4", False, list(range(50)), gamma=0.9)]
    paths = plot([str(r) for r in runs], str(tmp_path / "out"))
    assert sorted(p.rsplit("/", 1)[1] for p in paths) == ["Hopper-v4-float32.png",
                                                          "Hopper-v4-no-bootstrap-gamma=0.9.png",
                                                          "Hopper-v4-no-bootstrap.png", "Hopper-v4.png"]
    for p in paths:
        with open(p, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
