"""Learning curves: each run's trailing mean return on a common grid of steps, and a
group's mean curve with its 95 % bootstrap band (``ppo-ref plot``, ``ppo-ref compare``)."""

import numpy as np

from ppo_ref.run import stats

LAST_EPISODES = 100  # CleanRL's metric: the mean return of the last 100 training episodes


def trailing_mean_curve(steps, returns, grid, window=LAST_EPISODES):
    """At each step of ``grid``: the mean return of the last ``window`` episodes
    finished by then (NaN before the first episode); ``steps`` and ``returns``: the
    episodes' global steps, in order, and returns."""
    steps, returns = np.asarray(steps), np.asarray(returns)
    out = np.full(len(grid), np.nan)
    for i, g in enumerate(grid):
        n = np.searchsorted(steps, g, side="right")
        if n:
            out[i] = returns[max(0, n - window):n].mean()
    return out


def mean_band(curves, rng, resamples=stats.RESAMPLES):
    """``(mean, low, high)`` over the runs of ``curves`` (runs, points): the mean
    curve and, at each point, the 95 % percentile bootstrap interval of the mean
    over runs (NaN with a single run)."""
    curves = np.asarray(curves, dtype=np.float64)
    low, high = stats.interval([curves], lambda c, axis: c.mean(axis=axis), rng, resamples, axis=0)
    return curves.mean(axis=0), low, high


def draw(ax, grid, curves, rng, label=None, color=None):
    """The mean curve of ``curves`` on matplotlib axes ``ax``, with its band."""
    mean, low, high = mean_band(curves, rng)
    line, = ax.plot(grid, mean, linewidth=2, label=label, color=color)
    if not np.isnan(low).all():
        ax.fill_between(grid, low, high, alpha=0.25, linewidth=0, color=line.get_color())
