"""Learning curves: each run's trailing mean return on a common grid of steps, and a
group's mean curve with its 95 % bootstrap band (``ppo-ref plot``, ``ppo-ref compare``)."""

import numpy as np

from ppo_ref.errors import import_optional
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


def draw(ax, grid, curves, rng, label=None):
    """The mean curve of ``curves`` on matplotlib axes ``ax``, with its band."""
    mean, low, high = mean_band(curves, rng)
    line, = ax.plot(grid, mean, linewidth=2, label=label)
    if not np.isnan(low).all():
        ax.fill_between(grid, low, high, alpha=0.25, linewidth=0, color=line.get_color())


def pyplot(purpose):
    """matplotlib.pyplot on its file backend, or a one-line MissingPackageError saying
    that ``purpose`` needs the extra ``ppo_ref[plot]``."""
    matplotlib = import_optional("matplotlib", purpose, "plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(plt, path, title, grid, groups):
    """A PNG at ``path``: for each ``(curves, rng, label)`` of ``groups``, the mean
    curve on ``grid`` with its band (:func:`draw`); a legend when the groups have
    labels. Returns ``path``."""
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for group_curves, rng, label in groups:
        draw(ax, grid, group_curves, rng, label=label)
    ax.set_xlabel("environment steps")
    ax.set_ylabel(f"mean return of the last {LAST_EPISODES} episodes")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if any(label is not None for _, _, label in groups):
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
