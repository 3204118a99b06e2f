"""What ``ppo-ref compare`` writes: the tables as Markdown and CSV, and one figure per
env of each group's mean learning curve with its 95 % bootstrap band."""

import csv
import io
import os

import numpy as np

from ppo_ref.run import curves, stats
from ppo_ref.run.compare import SCORES, fmt, rng_for

POINTS = 100  # points of a figure's step grid


def _ci(value, digits=0):
    v, low, high = value
    return f"{fmt(v, digits)} [{fmt(low, digits)}, {fmt(high, digits)}]"


def _p(p):
    return "n/a" if np.isnan(p) else "< 0.001" if p < 0.001 else f"{p:.3f}"


def markdown(c):
    """The comparison as Markdown: the groups per env, A - B per env, the aggregate."""
    a, b = c.names
    lines = [f"Score: {SCORES[c.score]}. Intervals: 95 %, percentile bootstrap ({c.resamples} resamples, seed "
             f"{c.seed}), but A - B's, which is Welch's t interval.", "",
             "| env | group | runs | mean [95 % CI] | median [95 % CI] | IQM [95 % CI] |", "|---|---|---|---|---|---|"]
    for r in c.envs:
        for name, runs, est in zip(c.names, r.runs, r.estimates):
            lines.append(f"| {r.env} | {name} | {len(runs)} | " + " | ".join(_ci(est[e]) for e in stats.ESTIMATORS)
                         + " |")
    lines += ["", f"| env | {a} - {b}, mean [95 % CI] | Welch's p | P({a} > {b}) | verdict |", "|---|---|---|---|---|"]
    for r in c.envs:
        diff, low, high, p = r.difference
        lines.append(f"| {r.env} | {_ci((diff, low, high))} | {_p(p)} | {r.improvement:.2f} | {r.verdict} |")
    g = c.aggregate
    if g is not None:
        lines += ["", f"Across {len(c.envs)} envs, each score normalised as (score - low) / (high - low):"]
        lines += [f"- {env}: low {low:.1f}, high {high:.1f} ({how})" for env, (low, high, how) in g.references.items()]
        lines += ["", "| group | mean [95 % CI] | median [95 % CI] | IQM [95 % CI] |", "|---|---|---|---|"]
        lines += [f"| {name} | " + " | ".join(_ci(est[e], 2) for e in stats.ESTIMATORS) + " |"
                  for name, est in zip(c.names, g.estimates)]
        lines += ["", f"| {a} - {b}, mean [95 % CI] | P({a} > {b}), mean over envs [95 % CI] | verdict |",
                  "|---|---|---|", f"| {_ci(g.difference, 2)} | {_ci(g.improvement, 2)} | {g.verdict} |",
                  "", "Aggregate intervals: stratified bootstrap, runs resampled within each env and group."]
    for name, envs in zip(c.names, c.only):
        if envs:
            lines += ["", f"Only {name} has runs of {', '.join(envs)}: not compared."]
    if c.warnings:
        lines += [""] + [f"Warning: {w}" for w in c.warnings]
    return "\n".join(lines) + "\n"


def csv_text(c):
    """The comparison as CSV, one estimate a row: section, env, group, runs,
    statistic, value, low, high."""
    out = io.StringIO(newline="")
    w = csv.writer(out)
    w.writerow(("section", "env", "group", "runs", "statistic", "value", "low", "high"))
    diff_name = f"{c.names[0]} - {c.names[1]}"
    for r in c.envs:
        for name, runs, est in zip(c.names, r.runs, r.estimates):
            w.writerows(("group", r.env, name, len(runs), e, *map(repr, est[e])) for e in stats.ESTIMATORS)
        n = f"{len(r.runs[0])}/{len(r.runs[1])}"
        w.writerow(("difference", r.env, diff_name, n, "mean difference (Welch)", *map(repr, r.difference[:3])))
        w.writerow(("difference", r.env, diff_name, n, "Welch p-value", repr(r.difference[3]), "", ""))
        w.writerow(("difference", r.env, diff_name, n, "P(A > B)", repr(r.improvement), "", ""))
        w.writerow(("difference", r.env, diff_name, n, "detectable difference at 80 % power", repr(r.detectable),
                    "", ""))
    g = c.aggregate
    if g is not None:
        for name, est in zip(c.names, g.estimates):
            w.writerows(("all envs", "", name, "", f"normalised {e}", *map(repr, est[e])) for e in stats.ESTIMATORS)
        w.writerow(("all envs", "", diff_name, "", "normalised mean difference", *map(repr, g.difference)))
        w.writerow(("all envs", "", diff_name, "", "P(A > B), mean over envs", *map(repr, g.improvement)))
    return out.getvalue()


def figures(c, out_dir):
    """One PNG per env: each group's mean trailing-100-episode return on a common
    step grid, with its 95 % bootstrap band. Returns the paths written."""
    plt = curves.pyplot("ppo-ref compare's figures")
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for r in c.envs:
        runs = r.runs[0] + r.runs[1]
        # From the first step at which every run has finished an episode to the
        # last at which every run has: every point averages over all runs.
        grid = np.linspace(max(s.steps[0] for s in runs), min(s.steps[-1] for s in runs), POINTS)
        groups = [([curves.trailing_mean_curve(s.steps, s.returns, grid) for s in group],
                   rng_for(c.seed, r.env, name, "curve"), f"{name} ({len(group)} runs)")
                  for name, group in zip(c.names, r.runs)]
        written.append(curves.save_figure(plt, os.path.join(out_dir, r.env.replace("/", "_") + ".png"),
                                          f"{r.env}: mean over runs, 95 % bootstrap band", grid, groups))
    return written


def write(c, out_dir):
    """compare.md, compare.csv and the figures into ``out_dir``; returns the paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name, text in (("compare.md", markdown(c)), ("compare.csv", csv_text(c))):
        paths.append(os.path.join(out_dir, name))
        with open(paths[-1], "w", newline="") as f:
            f.write(text)
    return paths + figures(c, out_dir)
