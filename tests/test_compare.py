"""ppo-ref compare as a user meets it: groups of runs of any kind, a verdict that does
not overclaim, the same output for the same inputs, and one line for every refused
input."""

import json
import os
import shutil
import sys

import numpy as np
import pytest

from conftest import cli_in_process, train_tiny
from ppo_ref.cli import main
from ppo_ref.run import layout
from ppo_ref.run.compare import CompareError, compare
from ppo_ref.run.compare_out import csv_text, markdown

pytestmark = pytest.mark.env  # trains tiny runs to read


def write_csv_run(path, returns, every=1000):
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{every * (i + 1)},{float(r)!r}\n" for i, r in enumerate(returns))
    path.write_text("global_step,episodic_return\n" + rows)
    return path


def csv_group(root, env, centre, seeds=5, episodes=150, spread=40.0):
    rng = np.random.default_rng(int(centre))
    for s in range(1, seeds + 1):
        level = centre + rng.normal(0, spread)
        write_csv_run(root / env / f"seed{s}.csv", list(level + rng.normal(0, 20, episodes)))
    return root


def cli(capsys, *args):
    return cli_in_process(capsys, "compare", *args)


def test_identical_groups_show_no_difference_and_a_shifted_group_one(tmp_path):
    a = csv_group(tmp_path / "a", "Hopper-v4", 1000.0)
    shutil.copytree(a, tmp_path / "same")
    shifted = csv_group(tmp_path / "shifted", "Hopper-v4", 1500.0)
    same = compare([a], [tmp_path / "same"], resamples=1000).envs[0]
    assert same.difference[0] == 0.0 and same.difference[3] == pytest.approx(1.0)
    assert same.improvement == 0.5
    assert same.verdict.startswith("no difference detected; these seeds would detect a difference of ")
    assert same.detectable > 0
    apart = compare([a], [shifted], names=("port", "ppo_ref"), resamples=1000).envs[0]
    assert apart.verdict == "port lower than ppo_ref" and apart.difference[3] < 0.05
    assert apart.improvement == 0.0 and apart.difference[2] < 0


def test_the_final_score_is_the_mean_of_the_last_100_episodes(tmp_path):
    write_csv_run(tmp_path / "Hopper-v4__x__1.csv", [0.0] * 50 + [10.0] * 100)
    write_csv_run(tmp_path / "Hopper-v4__x__2.csv", [4.0] * 30)
    write_csv_run(tmp_path / "b" / "Hopper-v4__y__1.csv", [1.0, 3.0])
    c = compare([tmp_path / "Hopper-v4__x__1.csv", tmp_path / "Hopper-v4__x__2.csv"], [tmp_path / "b"],
                resamples=1000)
    assert [r.score for r in c.envs[0].runs[0]] == [10.0, 4.0] and c.envs[0].runs[1][0].score == 2.0
    assert c.envs[0].estimates[0]["mean"][0] == 7.0
    assert c.warnings[:2] == ["Hopper-v4: A has 2 runs; with fewer than 3 no figure here says much",
                              "Hopper-v4: B has 1 run; with fewer than 3 no figure here says much"]
    assert c.warnings[2].startswith("with 1 run in a group, bootstrap intervals are narrower than 95 %")
    assert "not tested" in c.envs[0].verdict


def test_the_aggregate_normalises_by_the_given_references(tmp_path):
    for env, scores in (("Hopper-v4", ([10, 20, 30], [20, 20, 20])), ("Walker2d-v4", ([0, 100, 200], [50, 60, 70]))):
        for g, group in zip("ab", scores):
            for s, score in enumerate(group):
                write_csv_run(tmp_path / g / env / f"seed{s}.csv", [float(score)] * 100)
    c = compare([tmp_path / "a"], [tmp_path / "b"], references={"Hopper-v4": (0, 20), "Walker2d-v4": (0, 200)},
                resamples=1000)
    g = c.aggregate
    # A: 0.5, 1, 1.5 and 0, 0.5, 1 -> mean 0.75; B: 1, 1, 1 and 0.25, 0.3, 0.35 -> mean 0.65
    assert g.estimates[0]["mean"][0] == pytest.approx(0.75) and g.estimates[1]["mean"][0] == pytest.approx(0.65)
    assert g.difference[0] == pytest.approx(0.1)
    # P(A > B): Hopper 10 < 20 x3, 20 = 20 x3, 30 > 20 x3 -> 0.5; Walker 0 < all, 100 > all, 200 > all -> 2/3
    assert g.improvement[0] == pytest.approx((0.5 + 2 / 3) / 2)
    assert g.difference[1] <= g.difference[0] <= g.difference[2]
    assert g.references["Hopper-v4"] == (0, 20, "given")


def test_the_same_inputs_give_the_same_output(tmp_path):
    pytest.importorskip("matplotlib")
    a = csv_group(tmp_path / "a", "Hopper-v4", 1000.0)
    b = csv_group(tmp_path / "b", "Hopper-v4", 1100.0)
    outputs = []
    for out in ("one", "two"):
        assert main(["compare", str(a), "--vs", str(b), "--resamples", "500", "--out", str(tmp_path / out)]) == 0
        outputs.append({n: (tmp_path / out / n).read_bytes() for n in sorted(os.listdir(tmp_path / out))})
    assert list(outputs[0]) == ["Hopper-v4.png", "compare.csv", "compare.md"]
    assert outputs[0] == outputs[1]
    assert outputs[0]["Hopper-v4.png"][:8] == b"\x89PNG\r\n\x1a\n"
    c = compare([a], [b], resamples=500)
    assert outputs[0]["compare.md"].decode() == markdown(c) and outputs[0]["compare.csv"].decode() == csv_text(c)


def test_across_versions_pairs_v4_with_v5(tmp_path):
    csv_group(tmp_path / "v4", "Hopper-v4", 1000.0, seeds=3)
    csv_group(tmp_path / "v5", "Hopper-v5", 1000.0, seeds=3)
    with pytest.raises(CompareError, match="the groups share no env: A has Hopper-v5; B has Hopper-v4"):
        compare([tmp_path / "v5"], [tmp_path / "v4"])
    assert [r.env for r in compare([tmp_path / "v5"], [tmp_path / "v4"], across_versions=True,
                                   resamples=500).envs] == ["Hopper"]


def test_a_reference_named_with_its_version_applies_across_versions(tmp_path):
    for env, group in (("Hopper-v4", "b"), ("Hopper-v5", "a"), ("Walker2d-v4", "a"), ("Walker2d-v4", "b")):
        csv_group(tmp_path / group, env, 1000.0, seeds=3)
    references = {"Hopper-v4": (0.0, 2000.0), "Walker2d": (0.0, 4000.0)}
    c = compare([tmp_path / "a"], [tmp_path / "b"], references=references, across_versions=True, resamples=500)
    assert c.aggregate.references["Hopper"] == (0.0, 2000.0, "given")
    assert c.aggregate.references["Walker2d"] == (0.0, 4000.0, "given")
    with pytest.raises(CompareError, match="--reference gives Hopper two references"):
        compare([tmp_path / "a"], [tmp_path / "b"], references={**references, "Hopper-v5": (1.0, 2.0)},
                across_versions=True, resamples=500)


def test_a_reference_with_one_env_compared_is_said_to_be_unused(tmp_path):
    a = csv_group(tmp_path / "a", "Hopper-v4", 1000.0, seeds=3)
    b = shutil.copytree(a, tmp_path / "b")
    c = compare([a], [b], references={"Hopper-v4": (0.0, 2000.0)}, resamples=500)
    assert c.aggregate is None
    assert "--reference normalises scores across envs; with one env compared it is not used" in c.warnings


@pytest.fixture(scope="module")
def tb_run(tmp_path_factory):
    pytest.importorskip("tensorboard")
    run_dir = tmp_path_factory.mktemp("tb") / "run"
    train_tiny(run_dir, env_id="Hopper-v5", tensorboard=True)
    return run_dir


def test_event_files_under_cleanrls_tags_read_like_the_runs_csv(tb_run, tmp_path):
    """The event file ppo_ref's --tensorboard writes, moved into a directory named as
    CleanRL names its runs: compare reads the episodes (float32, as TensorBoard keeps
    them) that episodes.csv holds."""
    cleanrl = tmp_path / "runs" / "Hopper-v5__ppo_continuous_action__1__1700000000"
    cleanrl.mkdir(parents=True)
    (event_file,) = layout.event_files(tb_run)
    shutil.copy(event_file, cleanrl)
    (run,) = layout.find_runs([tmp_path / "runs"], foreign=True)
    assert run.kind == "events" and layout.env_id(run) == "Hopper-v5"
    steps, returns = layout.episode_returns(run)
    episodes = layout.read_csv(tb_run / layout.EPISODES_NAME)
    np.testing.assert_array_equal(steps, [e["global_step"] for e in episodes])
    np.testing.assert_array_equal(returns, np.float32([e["return"] for e in episodes]))
    c = compare([tmp_path / "runs"], [tb_run], resamples=500)
    assert c.envs[0].runs[0][0].score == pytest.approx(c.envs[0].runs[1][0].score, rel=1e-6)


def refusals(tmp_path, tb_run):
    """name: (arguments after compare, a fragment of the one line)."""
    (tmp_path / "empty").mkdir()
    write_csv_run(tmp_path / "ok" / "Hopper-v4" / "seed1.csv", [1.0, 2.0])
    (tmp_path / "Hopper-v4__nocol.csv").write_text("step,return\n1,2\n")
    (tmp_path / "Hopper-v4__nan.csv").write_text("global_step,episodic_return\n1,x\n")
    (tmp_path / "unnamed").mkdir()
    write_csv_run(tmp_path / "unnamed" / "run.csv", [1.0])
    write_csv_run(tmp_path / "walker" / "Walker2d-v4" / "seed1.csv", [1.0])
    metrics_only = tmp_path / "runs" / "Hopper-v4__metrics__1__1"
    from ppo_ref.run.tensorboard import EventLog
    log = EventLog(str(metrics_only))
    log.scalars(10, {"losses/value_loss": 1.0})
    log.close()
    other = tmp_path / "other"
    for name, bootstrap in (("a", True), ("b", False)):
        shutil.copytree(tb_run, other / name, ignore=shutil.ignore_patterns("checkpoint.npz", "events.*"))
        config = json.loads((other / name / "config.json").read_text())
        (other / name / "config.json").write_text(json.dumps({**config, "bootstrap_truncation": bootstrap}))
    ok = tmp_path / "ok"
    ok_copy = shutil.copytree(ok, tmp_path / "ok_copy")
    two_copies = tmp_path / "two_copies"
    for name in ("a", "b"):
        shutil.copytree(tb_run, two_copies / name, ignore=shutil.ignore_patterns("checkpoint.npz", "events.*"))
    return {
        "a directory holding no run": ([tmp_path / "empty", "--vs", ok], f"{tmp_path / 'empty'} holds no run"),
        "no such path": ([tmp_path / "nope", "--vs", ok], "no such file or directory"),
        "a CSV without the columns": ([tmp_path / "Hopper-v4__nocol.csv", "--vs", ok], "has no column global_step"),
        "a CSV with a bad number": ([tmp_path / "Hopper-v4__nan.csv", "--vs", ok], "are not numbers"),
        "event files without episodes": ([metrics_only, "--vs", ok], "holds no charts/episodic_return scalars"),
        "a run naming no env": ([tmp_path / "unnamed", "--vs", ok], "its path names no env id"),
        "no env in common": ([tmp_path / "walker", "--vs", ok], "the groups share no env"),
        "no eval.txt": ([ok, "--vs", ok, "--score", "eval"], "holds no deterministic evaluation (eval.txt)"),
        "a bad reference": ([ok, "--vs", ok, "--reference", "Hopper-v4=1"], "must be ENV=LOW,HIGH"),
        "a reference without its env": ([ok, "--vs", ok, "--reference", "=1,2"], "'=1,2' must be ENV=LOW,HIGH"),
        "a reference without its =": ([ok, "--vs", ok, "--reference", "Hopper-v4"], "'Hopper-v4' must be ENV=LOW"),
        "two settings in a group": ([other, "--vs", tb_run], "runs of a group differ in bootstrap_truncation"),
        "too few resamples": ([ok, "--vs", ok, "--resamples", "10"], "--resamples (10) must be at least 100"),
        "a negative seed": ([ok, "--vs", ok, "--seed", "-1"], "--seed (-1) must be a non-negative integer"),
        "one name for both groups": ([ok, "--vs", ok, "--names", "port", "port"], "two different names"),
        "one run twice in a group": ([two_copies, "--vs", ok],
                                     "are one run twice (Hopper-v5, seed 1, the same setting); name each run once"),
        "a run in both groups": ([ok, "--vs", tmp_path / "ok" / "Hopper-v4" / "seed1.csv"],
                                 f"{tmp_path / 'ok' / 'Hopper-v4' / 'seed1.csv'} is in both groups"),
        "a reference of an env not compared": ([ok, "--vs", ok_copy, "--reference", "Walker2d-v4=1,2"],
                                               "--reference names Walker2d-v4, which is not an env both groups ran"),
    }


def test_every_refused_input_is_one_line(tb_run, tmp_path, capsys):
    for name, (args, fragment) in refusals(tmp_path, tb_run).items():
        code, out, err = cli(capsys, *args)
        assert code == 2, (name, err)
        assert err.count("\n") == 1 and err.startswith("ppo-ref: error: ") and fragment in err, (name, err)
        assert out == "", name


@pytest.mark.parametrize("package, extra", [("scipy", "compare"), ("tensorboard", "tensorboard")])
def test_without_an_extra_one_line_says_what_to_install(tb_run, tmp_path, monkeypatch, capsys, package, extra):
    cleanrl = tmp_path / "Hopper-v5__cleanrl__1__1"
    cleanrl.mkdir()
    shutil.copy(layout.event_files(tb_run)[0], cleanrl)
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        monkeypatch.setitem(sys.modules, name, None)  # as if it were not installed
    code, out, err = cli(capsys, cleanrl, "--vs", tb_run)
    assert code == 2 and err.count("\n") == 1 and f"pip install 'ppo_ref[{extra}]'" in err, err


def test_the_score_can_be_the_kept_deterministic_evaluation(tmp_path):
    from test_report import make_run

    a = [make_run(tmp_path / "a" / f"seed{s}", "Hopper-v4", True, [1.0] * 5, eval_return=e, seed=s)
         for s, e in ((1, 300.0), (2, 500.0))]
    b = [make_run(tmp_path / "b" / f"seed{s}", "Hopper-v4", True, [1.0] * 5, eval_return=e, seed=s)
         for s, e in ((1, 100.0), (2, 200.0))]
    c = compare(a, b, score="eval", resamples=500)
    assert [r.score for g in c.envs[0].runs for r in g] == [300.0, 500.0, 100.0, 200.0]
    assert c.envs[0].difference[0] == 250.0
    assert compare(a, b, resamples=500).envs[0].difference[0] == 0.0  # the training score: 1 for every run
