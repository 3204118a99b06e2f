"""Learning curves and results tables from run directories (``ppo-ref plot``,
``ppo-ref report``).

The metric is CleanRL's: the mean return of the last 100 training episodes
(undiscounted, unscaled), so the figures compare with its published numbers.
"""

import os
from collections import defaultdict

import numpy as np

from ppo_ref.config import SAME_RUN, Config, settings_text
from ppo_ref.run.curves import LAST_EPISODES, pyplot, save_figure, trailing_mean_curve
from ppo_ref.run.layout import eval_score, load_run, refuse_repeats


def group_by_env(run_dirs):
    """Runs grouped by setting: runs alike in every setting but those of
    config.SAME_RUN are the seeds of one setting. Returns ``[(label, stem, runs)]``
    sorted by env id with the default settings first; ``runs`` holds ``(run_dir,
    config, episodes, metrics)``. The label (and ``stem``, the name of its figure)
    is the env id, noting truncation bootstrapping off, a dtype other than float64,
    and, of the settings in which the env's groups differ, those not at their default."""
    groups = defaultdict(list)
    for d in run_dirs:
        config, episodes, metrics = load_run(d)
        setting = tuple((k, v) for k, v in config.to_dict().items() if k not in SAME_RUN)
        groups[setting].append((d, config, episodes, metrics))
    for runs in groups.values():
        refuse_repeats([(r[0], r[1]) for r in runs])
    settings, default = [dict(s) for s in groups], Config().to_dict()
    out = []
    for setting, runs in groups.items():
        s = dict(setting)
        env = s["env_id"]
        differ = {k: v for k, v in s.items() if k not in ("env_id", "bootstrap_truncation", "dtype")
                  and v != default[k] and any(o["env_id"] == env and o[k] != v for o in settings)}
        # Each note as (its words in the label, its part of the figure's name).
        notes = (([] if s["bootstrap_truncation"] else [("no truncation bootstrap", "no-bootstrap")])
                 + ([] if s["dtype"] == "float64" else [(s["dtype"], s["dtype"])])
                 + ([(settings_text(differ),) * 2] if differ else []))
        label = env + (f" ({', '.join(n for n, _ in notes)})" if notes else "")
        stem = "-".join([env, *(n for _, n in notes)])
        out.append(((env, not s["bootstrap_truncation"], s["dtype"] != "float64", label), label, stem, runs))
    return [item[1:] for item in sorted(out, key=lambda item: item[0])]


def plot(run_dirs, out_dir, points=100, seed=0):
    """One PNG per env (and truncation setting and dtype): the mean over seeds of the
    trailing-100-episode return against steps, with its 95 % bootstrap band over
    seeds (curves.mean_band, resampled from ``seed``). Returns the paths written."""
    plt = pyplot("ppo-ref plot")
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for label, stem, runs in group_by_env(run_dirs):
        # From the first step at which every run has finished an episode, so
        # every point of the curve averages over all seeds.
        first = max(r[2][0]["global_step"] for r in runs)
        last = min(r[3][-1]["global_step"] for r in runs)
        grid = np.linspace(first, last, points)
        curves = np.array([trailing_mean_curve([e["global_step"] for e in r[2]], [e["return"] for e in r[2]], grid)
                           for r in runs])
        path = os.path.join(out_dir, f"{stem}.png")
        written.append(save_figure(plt, path, f"ppo_ref on {label}\nmean over {len(runs)} seeds, 95 % "
                                              "bootstrap band", grid, [(curves, np.random.default_rng(seed), None)]))
    return written


def table(run_dirs):
    """Markdown rows, one per env: seeds, final metric mean +- std over seeds,
    deterministic evaluation (from each run's eval.txt, if present), wall time and
    steps per second (medians over the runs' iterations)."""
    rows = ["| env | seeds | last-100-episode return | deterministic eval (10 ep.) | wall time | steps/s |",
            "|---|---|---|---|---|---|"]
    for label, _, runs in group_by_env(run_dirs):
        finals = [np.mean([e["return"] for e in r[2][-LAST_EPISODES:]]) for r in runs]
        evals = [eval_score(r[0]) for r in runs]
        evals = [e for e in evals if e is not None]
        walls = [r[3][-1]["wall_time"] for r in runs]
        sps = [np.median([m["steps_per_second"] for m in r[3]]) for r in runs]
        ev = f"{np.mean(evals):.0f} +- {np.std(evals):.0f}" if evals else "n/a"
        rows.append(f"| {label} | {len(runs)} | {np.mean(finals):.0f} +- {np.std(finals):.0f} | {ev} | "
                    f"{np.mean(walls) / 60:.1f} min | {np.mean(sps):.0f} |")
    return "\n".join(rows)

