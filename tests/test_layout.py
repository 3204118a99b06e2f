"""The run directory's layout and the one way of finding runs: every command that
reads runs accepts the same directory shapes."""

import json
import os
import shutil

import numpy as np
import pytest

from ppo_ref.cli import main
from ppo_ref.run import layout
from ppo_ref.run.layout import Run, RunDirError, find_runs

pytestmark = pytest.mark.env  # trains tiny runs to read


def copy_run(src, dst, seed=None):
    """A copy of a run's files; with ``seed``, its config says it is that seed's run."""
    dst.mkdir(parents=True)
    for name in (layout.CONFIG_NAME, layout.METRICS_NAME, layout.EPISODES_NAME):
        shutil.copy(src / name, dst / name)
    if seed is not None:
        config = json.loads((dst / layout.CONFIG_NAME).read_text())
        (dst / layout.CONFIG_NAME).write_text(json.dumps({**config, "seed": seed}))
    return dst


def shapes(tiny_run, root):
    """Each directory shape a user passes, with the run directories it holds in order."""
    results = root / "results"
    seeds = [copy_run(tiny_run, results / "Hopper-v4" / f"seed{s}", seed=s) for s in (10, 2, 1)]
    sweep = root / "sweep"
    swept = [copy_run(tiny_run, sweep / f"Hopper-v4__base__seed{s}", seed=s) for s in (1, 2)]
    (sweep / "sweep.json").write_text(json.dumps({"format": "ppo_ref-sweep", "runs": [p.name for p in swept]}))
    return {
        "a run directory": ([seeds[2]], [seeds[2]]),
        "a folder of runs": ([results / "Hopper-v4"], [seeds[2], seeds[1], seeds[0]]),
        "a folder of folders of runs": ([results], [seeds[2], seeds[1], seeds[0]]),
        "a sweep directory": ([sweep], swept),
    }


def test_report_and_tensorboard_accept_the_same_directory_shapes(tiny_run, tmp_path, capsys):
    pytest.importorskip("tensorboard")
    for shape, (paths, expected) in shapes(tiny_run, tmp_path).items():
        assert [r.path for r in find_runs(paths)] == [str(p) for p in expected], shape
        assert main(["report", *map(str, paths)]) == 0
        rows = capsys.readouterr().out.splitlines()
        assert rows[2].startswith(f"| Hopper-v4 | {len(expected)} |"), (shape, rows)
        out = tmp_path / "tb" / shape.replace(" ", "_")
        assert main(["tensorboard", *map(str, paths), "--out", str(out)]) == 0
        written = capsys.readouterr().out.split()
        assert len(written) == len(expected), shape
        assert len({os.path.dirname(p) for p in written}) == len(expected), shape


def test_a_path_without_runs_is_refused_in_one_line_by_every_command(tmp_path, capsys):
    (tmp_path / "empty" / "deeper").mkdir(parents=True)
    (tmp_path / "notes.txt").write_text("no run here")
    for path, fragment in ((tmp_path / "empty", "holds no ppo_ref run directory: no config.json in it or below it"),
                           (tmp_path / "missing", "no such file or directory")):
        for command in (["report"], ["plot", "--out", str(tmp_path / "o")], ["tensorboard"]):
            with pytest.raises(SystemExit) as exit_:
                main([command[0], str(path), *command[1:]])
            assert exit_.value.code == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and str(path) in err and fragment in err, (command, err)


def test_runs_of_other_implementations_are_found_only_when_asked_for(tmp_path):
    cleanrl = tmp_path / "runs" / "Hopper-v4__ppo_continuous_action__1__1700000000"
    cleanrl.mkdir(parents=True)
    (cleanrl / "events.out.tfevents.1700000000.host.1.0").write_bytes(b"")
    port = tmp_path / "port" / "Hopper-v4"
    port.mkdir(parents=True)
    (port / "seed1.csv").write_text("global_step,episodic_return\n10,1.5\n")
    (port / "notes.csv").write_text("a,b\n1,2\n")  # not a CSV of episodes: not a run
    with pytest.raises(RunDirError, match="holds no ppo_ref run directory.*another implementation"):
        find_runs([tmp_path / "runs"])
    assert find_runs([tmp_path / "runs", tmp_path / "port"], foreign=True) == [
        Run(str(cleanrl), "events"), Run(str(port / "seed1.csv"), "csv")]
    assert [layout.env_id(r) for r in find_runs([tmp_path], foreign=True)] == ["Hopper-v4", "Hopper-v4"]
    (tmp_path / "unnamed").mkdir()
    (tmp_path / "unnamed" / "run.csv").write_text("global_step,episodic_return\n10,1.5\n")
    with pytest.raises(RunDirError, match="names no env id"):
        layout.env_id(find_runs([tmp_path / "unnamed"], foreign=True)[0])
    (tmp_path / "nothing").mkdir()
    with pytest.raises(RunDirError, match=r"nothing holds no run: no ppo_ref run directory \(config.json\), "
                                          "TensorBoard event file or CSV with the columns"):
        find_runs([tmp_path / "nothing"], foreign=True)


def test_a_csv_of_episodes_is_read_in_step_order_and_a_bad_one_refused(tmp_path):
    good = tmp_path / "Hopper-v4__port__1.csv"
    good.write_text("episodic_return,global_step,seed\n3.0,20,1\n1.0,10,1\n2.0,20,1\n")
    steps, returns = layout.episode_returns(Run(str(good), "csv"))
    np.testing.assert_array_equal(steps, [10, 20, 20])
    np.testing.assert_array_equal(returns, [1.0, 3.0, 2.0])  # a stable order: ties keep the file's order
    for text, fragment in (("step,return\n1,2\n", "has no column global_step"),
                           ("global_step,episodic_return\n1,abc\n", "line 2: '1', 'abc' are not numbers"),
                           ("global_step,episodic_return\n", "holds no episode")):
        good.write_text(text)
        with pytest.raises(RunDirError, match=fragment):
            layout.episode_returns(Run(str(good), "csv"))


def test_config_json_is_read_without_its_versions(tiny_run, tmp_path):
    run = copy_run(tiny_run, tmp_path / "run")
    saved = json.loads((run / layout.CONFIG_NAME).read_text())
    assert "versions" in saved
    config = layout.read_config(run)
    assert config.to_dict() == {k: v for k, v in saved.items() if k != "versions"}
    saved["hidden_sizes"] = [32]
    (run / layout.CONFIG_NAME).write_text(json.dumps(saved))
    with pytest.raises(RunDirError, match="holds hidden_sizes, which is not a setting"):
        layout.read_config(run)


def test_config_json_with_a_retired_setting_is_read_without_it(tiny_run, tmp_path):
    """Runs of 0.2.0 saved update_worker (config.RETIRED), docs/results' among them."""
    run = copy_run(tiny_run, tmp_path / "run")
    saved = json.loads((run / layout.CONFIG_NAME).read_text())
    (run / layout.CONFIG_NAME).write_text(json.dumps({**saved, "update_worker": False}))
    assert layout.read_config(run).to_dict() == {k: v for k, v in saved.items() if k != "versions"}
    assert layout.read_config(os.path.join(os.path.dirname(__file__), "..", "docs", "results", "Hopper-v5",
                                           "seed1")).env_id == "Hopper-v5"


@pytest.mark.parametrize("line, score", [
    ("10 episodes (deterministic): return 512.25 +- 3.00\n", 512.25),
    ("1 episode (deterministic): return -7.5 +- 0.00\n", -7.5),
    ("10 episodes (stochastic): return 512.25 +- 3.00\n", None),
])
def test_eval_score_reads_the_line_eval_prints(tmp_path, line, score):
    (tmp_path / layout.EVAL_NAME).write_text(line)
    assert layout.eval_score(str(tmp_path)) == score


def test_a_run_without_a_finished_episode_or_iteration_says_which(tiny_run, tmp_path):
    run = copy_run(tiny_run, tmp_path / "run")
    metrics = (run / layout.METRICS_NAME).read_text().splitlines()
    (run / layout.EPISODES_NAME).write_text((run / layout.EPISODES_NAME).read_text().splitlines()[0] + "\n")
    with pytest.raises(RunDirError, match=r"has no finished episode to report yet \(after 256 steps\)$"):
        layout.load_run(str(run))
    (run / layout.METRICS_NAME).write_text(metrics[0] + "\n")
    with pytest.raises(RunDirError, match="has no finished iteration to report yet$"):
        layout.load_run(str(run))


def test_a_row_being_written_is_left_out_and_a_broken_one_named(tiny_run, tmp_path, capsys):
    """A reader may meet a CSV while training appends to it, or after a crash cut its
    last row short: the row without its newline is left out. A broken row elsewhere
    is one line naming it."""
    run = copy_run(tiny_run, tmp_path / "run")
    episodes = (run / layout.EPISODES_NAME).read_text()
    whole = layout.read_csv(str(run / layout.EPISODES_NAME))
    assert len(whole) >= 2
    (run / layout.EPISODES_NAME).write_text(episodes + "1024,-3.25")  # a row still being written
    assert layout.read_csv(str(run / layout.EPISODES_NAME)) == whole
    metrics = (run / layout.METRICS_NAME).read_text()
    (run / layout.METRICS_NAME).write_text(metrics[:-10])  # the last row cut short
    assert len(layout.read_csv(str(run / layout.METRICS_NAME))) == len(metrics.splitlines()) - 2
    lines = episodes.splitlines(keepends=True)
    for broken in ("256,x,12\r\n", "256,1.5\r\n", "256,1.5,12,7\r\n"):
        (run / layout.EPISODES_NAME).write_text("".join([lines[0], broken, *lines[1:]]))
        with pytest.raises(SystemExit) as exit_:
            main(["report", str(run)])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert err == (f"ppo-ref: error: {run / layout.EPISODES_NAME}, line 2: not a row of 3 numbers "
                       "(global_step,return,length)\n"), broken


@pytest.mark.parametrize("text, fragment", [
    ('{"env_id": ', "config.json is not readable JSON: Expecting value"),
    ("\xff\xfe", "config.json is not readable JSON"),
    ("[1, 2]", "config.json is not a ppo_ref run's config (a JSON object naming its env_id)"),
    ('{"gamma": 0.9}', "config.json is not a ppo_ref run's config (a JSON object naming its env_id)"),
    ('{"env_id": 5}', "config.json: --env-id (5) must be a non-empty environment id"),
    ('{"env_id": "Hopper-v4", "gamma": "x"}', "config.json: --gamma ('x') must be in [0, 1]"),
    ('{"env_id": "Hopper-v4", "num_envs": [1]}', "config.json: --num-envs ([1]) must be a positive integer"),
])
def test_a_config_json_that_is_not_a_runs_config_is_one_line(tiny_run, tmp_path, capsys, text, fragment):
    run = copy_run(tiny_run, tmp_path / "run")
    (run / layout.CONFIG_NAME).write_bytes(text.encode("latin-1"))
    for command in (["report"], ["summary"], ["compare", "--vs", str(tiny_run)]):
        with pytest.raises(SystemExit) as exit_:
            main([command[0], str(run), *command[1:]])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{run / layout.CONFIG_NAME}" in err and fragment in err, (command, err)


def test_a_run_reached_through_two_paths_is_found_once(tiny_run, tmp_path, monkeypatch):
    folder = tmp_path / "runs"
    one, two = copy_run(tiny_run, folder / "seed1", seed=1), copy_run(tiny_run, folder / "seed2", seed=2)
    os.symlink(folder, tmp_path / "link")
    monkeypatch.chdir(tmp_path)
    paths = [folder, "./runs/seed1", two, tmp_path / "link" / "seed2", "link"]
    assert [r.path for r in find_runs(paths)] == [str(one), str(two)]


def test_one_run_twice_is_refused_by_report(tiny_run, tmp_path, capsys):
    a, b = copy_run(tiny_run, tmp_path / "a"), copy_run(tiny_run, tmp_path / "b")
    with pytest.raises(SystemExit) as exit_:
        main(["report", str(tmp_path)])
    assert exit_.value.code == 2
    assert f"{a} and {b} are one run twice (Hopper-v4, seed 1, the same setting)" in capsys.readouterr().err
