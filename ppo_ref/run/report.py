"""Learning curves and results tables from run directories (``ppo-ref plot``,
``ppo-ref report``).

The metric is CleanRL's: the mean return of the last 100 training episodes
(undiscounted, unscaled), so the figures compare with its published numbers.
"""

import os
from collections import defaultdict

import numpy as np

from ppo_ref.run.curves import LAST_EPISODES, pyplot, save_figure, trailing_mean_curve
from ppo_ref.run.layout import eval_score, load_run


def group_by_env(run_dirs):
    """Runs grouped by (env id, truncation bootstrapping, dtype), the seeds of one
    setting, sorted by env id with the default settings first."""
    groups = defaultdict(list)
    for d in run_dirs:
        config, episodes, metrics = load_run(d)
        key = (config.env_id, config.bootstrap_truncation, config.dtype)
        groups[key].append((d, config, episodes, metrics))
    return sorted(groups.items(), key=lambda kv: (kv[0][0], not kv[0][1], kv[0][2] != "float64"))


def _label(key):
    env_id, bootstrap, dtype = key
    notes = ([] if bootstrap else ["no truncation bootstrap"]) + ([] if dtype == "float64" else [dtype])
    return env_id + (f" ({', '.join(notes)})" if notes else "")


def plot(run_dirs, out_dir, points=100, seed=0):
    """One PNG per env (and truncation setting and dtype): the mean over seeds of the
    trailing-100-episode return against steps, with its 95 % bootstrap band over
    seeds (curves.mean_band, resampled from ``seed``). Returns the paths written."""
    plt = pyplot("ppo-ref plot")
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for key, runs in group_by_env(run_dirs):
        # From the first step at which every run has finished an episode, so
        # every point of the curve averages over all seeds.
        first = max(r[2][0]["global_step"] for r in runs)
        last = min(r[3][-1]["global_step"] for r in runs)
        grid = np.linspace(first, last, points)
        curves = np.array([trailing_mean_curve([e["global_step"] for e in r[2]], [e["return"] for e in r[2]], grid)
                           for r in runs])
        path = os.path.join(out_dir, f"{key[0]}{'' if key[1] else '-no-bootstrap'}"
                                     f"{'' if key[2] == 'float64' else '-' + key[2]}.png")
        written.append(save_figure(plt, path, f"ppo_ref on {_label(key)}\nmean over {len(runs)} seeds, 95 % "
                                              "bootstrap band", grid, [(curves, np.random.default_rng(seed), None)]))
    return written


def table(run_dirs):
    """Markdown rows, one per env: seeds, final metric mean +- std over seeds,
    deterministic evaluation (from each run's eval.txt, if present), wall time and
    steps per second (medians over the runs' iterations)."""
    rows = ["| env | seeds | last-100-episode return | deterministic eval (10 ep.) | wall time | steps/s |",
            "|---|---|---|---|---|---|"]
    for key, runs in group_by_env(run_dirs):
        finals = [np.mean([e["return"] for e in r[2][-LAST_EPISODES:]]) for r in runs]
        evals = [eval_score(r[0]) for r in runs]
        evals = [e for e in evals if e is not None]
        walls = [r[3][-1]["wall_time"] for r in runs]
        sps = [np.median([m["steps_per_second"] for m in r[3]]) for r in runs]
        ev = f"{np.mean(evals):.0f} +- {np.std(evals):.0f}" if evals else "n/a"
        rows.append(f"| {_label(key)} | {len(runs)} | {np.mean(finals):.0f} +- {np.std(finals):.0f} | {ev} | "
                    f"{np.mean(walls) / 60:.1f} min | {np.mean(sps):.0f} |")
    return "\n".join(rows)

