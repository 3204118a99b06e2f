"""A run directory: what it holds, how it is read, and the one way of finding runs.

    RUN_DIR/config.json             the resolved Config, and "versions" (library versions, numerics)
    RUN_DIR/metrics.csv             one row per iteration (METRICS_FIELDS)
    RUN_DIR/episodes.csv            one row per finished episode (EPISODES_FIELDS)
    RUN_DIR/checkpoint.npz          the latest checkpoint (its format: checkpoint.py)
    RUN_DIR/events.out.tfevents.*   with --tensorboard (tensorboard.py)
    RUN_DIR/eval.txt                a kept ``ppo-ref eval`` line (docs/results does so)

runlog.py writes the CSVs and config.json; this module reads them. ``ppo-ref
compare`` also reads two kinds of run of other implementations: a directory of
TensorBoard event files with CleanRL's ``charts/episodic_return`` against the
global step (CleanRL's ``runs/RUN_NAME``), and a CSV file with the columns
``global_step`` and ``episodic_return``. Such a run names its env in its path:
the first part of a name that is an env id (``Hopper-v4__ppo__1__1700000000``,
``Hopper-v4/seed1.csv``).

:func:`find_runs` is how every command that reads runs finds them: a path that is
a run is that run; any other directory holds the runs below it, in natural order
(``seed2`` before ``seed10``), so a run directory, a folder of them
(docs/results/Hopper-v4) and a sweep directory are all accepted alike.
"""

import csv
import dataclasses
import json
import os
import re

import numpy as np

from ppo_ref.config import RETIRED, Config, ConfigError, validate
from ppo_ref.errors import UserError
from ppo_ref.run import tensorboard

CONFIG_NAME = "config.json"
METRICS_NAME = "metrics.csv"
EPISODES_NAME = "episodes.csv"
CHECKPOINT_NAME = "checkpoint.npz"
EVAL_NAME = "eval.txt"
EVENTS_PREFIX = "events.out.tfevents."

METRICS_FIELDS = (
    "iteration", "global_step", "wall_time", "steps_per_second", "episodic_return", "episodic_length",
    "episodes", "pg_loss", "v_loss", "entropy", "approx_kl", "clipfrac", "explained_variance",
    "learning_rate", "grad_norm",
)
EPISODES_FIELDS = ("global_step", "return", "length")
#: The columns of another implementation's CSV of finished episodes.
CSV_COLUMNS = ("global_step", "episodic_return")

EVAL_LINE = re.compile(r"episodes? \(deterministic\): return (-?[0-9.]+) \+- ")  # as ppo-ref eval prints it
ENV_ID = re.compile(r"[A-Za-z][\w.:/-]*-v[0-9]+")
KINDS = {"ppo_ref": "a ppo_ref run directory", "events": "TensorBoard event files", "csv": "a CSV of episodes"}


class RunDirError(UserError):
    """A path holds no run, or not the run a command needs; the message says why."""


@dataclasses.dataclass(frozen=True)
class Run:
    """A run found by :func:`find_runs`: its path and its kind, a key of KINDS."""
    path: str
    kind: str


def read_csv(path):
    """Rows of a metrics or episodes CSV as dicts of floats (an empty field is NaN).
    A last line without its newline is a row still being written, or cut short by a
    crash, and is left out (as a resumed run drops it); any other row that is not a
    full row of numbers is a RunDirError naming its line."""
    with open(path, newline="") as f:
        lines = f.read().splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines.pop()
    reader = csv.DictReader(lines)
    rows = []
    for row in reader:
        try:
            if None in row or None in row.values():  # more fields than the header, or fewer
                raise ValueError
            rows.append({k: float(v) if v != "" else float("nan") for k, v in row.items()})
        except ValueError:
            raise RunDirError(f"{path}, line {reader.line_num}: not a row of {len(reader.fieldnames)} numbers "
                              f"({','.join(reader.fieldnames)})") from None
    return rows


def read_config(run_dir):
    """The run's Config, from config.json without its "versions"; a field a config
    written by an earlier ppo_ref lacks takes its default, and one it retired
    (config.RETIRED) is dropped."""
    path = os.path.join(run_dir, CONFIG_NAME)
    with open(path, "rb") as f:
        try:
            saved = json.load(f)
        except ValueError as err:  # not JSON, or not UTF-8
            raise RunDirError(f"{path} is not readable JSON: {err}") from None
    if not isinstance(saved, dict) or "env_id" not in saved:
        raise RunDirError(f"{path} is not a ppo_ref run's config (a JSON object naming its env_id)")
    fields = {f.name for f in dataclasses.fields(Config)}
    unknown = sorted(set(saved) - fields - {"versions", *RETIRED})
    if unknown:
        raise RunDirError(f"{path} holds {', '.join(unknown)}, which is not a setting of this ppo_ref")
    try:
        return validate(Config.from_dict({k: v for k, v in saved.items() if k != "versions"}))
    except ConfigError as err:
        raise RunDirError(f"{path}: {err}") from None


def load_run(run_dir):
    """(Config, episodes rows, metrics rows) of a ppo_ref run directory."""
    missing = [n for n in (CONFIG_NAME, EPISODES_NAME, METRICS_NAME) if not os.path.isfile(os.path.join(run_dir, n))]
    if missing:
        raise RunDirError(f"{run_dir} is not a ppo_ref run directory: no {', '.join(missing)}")
    episodes = read_csv(os.path.join(run_dir, EPISODES_NAME))
    metrics = read_csv(os.path.join(run_dir, METRICS_NAME))
    if not metrics:
        raise RunDirError(f"{run_dir} has no finished iteration to report yet")
    if not episodes:
        raise RunDirError(f"{run_dir} has no finished episode to report yet (after "
                          f"{int(metrics[-1]['global_step'])} steps)")
    return read_config(run_dir), episodes, metrics


def refuse_repeats(runs):
    """Refuse two of ``runs`` (``(path, Config)`` pairs of one setting) with one env id
    and seed: the same run twice (a copied run directory), not two samples."""
    seen = {}
    for path, config in runs:
        first = seen.setdefault((config.env_id, config.seed), path)
        if first != path:
            raise RunDirError(f"{first} and {path} are one run twice ({config.env_id}, seed {config.seed}, the same "
                              "setting); name each run once")


def eval_score(run_dir):
    """The mean return of the deterministic evaluation kept in eval.txt, or None."""
    path = os.path.join(run_dir, EVAL_NAME)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        match = EVAL_LINE.search(f.read())
    return float(match.group(1)) if match else None


def event_files(run_dir):
    """The TensorBoard event files in ``run_dir``, sorted."""
    return sorted(os.path.join(run_dir, n) for n in os.listdir(run_dir) if n.startswith(EVENTS_PREFIX))


def env_id(run):
    """The env a run trained on: its config's, or the first env id in its path."""
    if run.kind == "ppo_ref":
        return read_config(run.path).env_id
    path = os.path.abspath(run.path)
    while os.path.dirname(path) != path:
        head = os.path.basename(path).removesuffix(".csv").split("__")[0]
        if ENV_ID.fullmatch(head):
            return head
        path = os.path.dirname(path)
    raise RunDirError(f"{run.path}: its path names no env id; name it like CleanRL's runs (ENV_ID__NAME, such as "
                      "Hopper-v4__myport__1) or put it in a folder named for its env (Hopper-v4/)")


def episode_returns(run):
    """``(global_steps, returns)`` of a run's finished episodes, as float64 arrays in
    step order: episodes.csv, the ``charts/episodic_return`` scalars of event files
    (float32, as TensorBoard stores them), or a CSV's two columns."""
    if run.kind == "ppo_ref":
        _, episodes, _ = load_run(run.path)
        steps, returns = [e["global_step"] for e in episodes], [e["return"] for e in episodes]
    elif run.kind == "events":
        steps, returns = tensorboard.read_scalars(run.path, tensorboard.EPISODE_TAGS["return"])
        if not steps:
            raise RunDirError(f"{run.path} holds no {tensorboard.EPISODE_TAGS['return']} scalars (CleanRL's tag "
                              "for the return of a finished episode)")
    else:
        steps, returns = _read_episodes_csv(run.path)
    steps, returns = np.asarray(steps, dtype=np.float64), np.asarray(returns, dtype=np.float64)
    order = np.argsort(steps, kind="stable")
    return steps[order], returns[order]


def _read_episodes_csv(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise RunDirError(f"{path} has no column {missing[0]}; a CSV of episodes has the columns "
                              f"{','.join(CSV_COLUMNS)}")
        steps, returns = [], []
        for row in reader:
            try:
                steps.append(float(row["global_step"]))
                returns.append(float(row["episodic_return"]))
            except (TypeError, ValueError):
                raise RunDirError(f"{path}, line {reader.line_num}: {row['global_step']!r}, "
                                  f"{row['episodic_return']!r} are not numbers") from None
    if not steps:
        raise RunDirError(f"{path} holds no episode")
    return steps, returns


def _kind(path):
    """The kind of run ``path`` is (a key of KINDS), or None."""
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, CONFIG_NAME)):
            return "ppo_ref"
        return "events" if event_files(path) else None
    if os.path.basename(path).startswith(EVENTS_PREFIX):
        return "events"
    return "csv" if path.endswith(".csv") else None


def _is_episodes_csv(path):
    """A CSV of another implementation's episodes (not a ppo_ref run's own CSVs)."""
    if not path.endswith(".csv") or os.path.basename(path) in (METRICS_NAME, EPISODES_NAME):
        return False
    with open(path, newline="") as f:
        header = next(csv.reader(f), [])
    return all(c in header for c in CSV_COLUMNS)


def _natural(name):
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"([0-9]+)", name)]


def _walk(path):
    kind = _kind(path)
    if kind is not None:
        yield Run(path, kind)
    elif os.path.isdir(path):
        for name in sorted(os.listdir(path), key=_natural):
            child = os.path.join(path, name)
            if os.path.isdir(child) or _is_episodes_csv(child):
                yield from _walk(child)


def find_runs(paths, foreign=False):
    """The runs in ``paths``, each path's in natural order: ppo_ref run directories,
    and with ``foreign`` also other implementations' event files and CSVs. A path
    that holds none is refused, naming it. A run reached through two paths (a run
    directory named beside the folder that holds it, ``./x`` and ``x``) is found
    once, by the first."""
    runs, seen = [], set()
    for path in paths:
        path = os.fspath(path)
        if not os.path.exists(path):
            raise RunDirError(f"{path}: no such file or directory")
        found = list(_walk(path))
        wanted = [r for r in found if foreign or r.kind == "ppo_ref"]
        if not wanted:
            if foreign:
                raise RunDirError(f"{path} holds no run: no ppo_ref run directory (config.json), TensorBoard event "
                                  f"file or CSV with the columns {','.join(CSV_COLUMNS)} in it or below it")
            other = " (it holds runs of another implementation, which ppo-ref compare reads)" if found else ""
            raise RunDirError(f"{path} holds no ppo_ref run directory: no {CONFIG_NAME} in it or below it{other}")
        for run in wanted:
            real = os.path.realpath(run.path)
            if real not in seen:
                seen.add(real)
                runs.append(run)
    return runs
