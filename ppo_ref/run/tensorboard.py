"""TensorBoard event files under CleanRL's tag names, so that a ppo_ref run and a
run of CleanRL's ``ppo_continuous_action.py`` overlay in one TensorBoard.

Written live by ``ppo-ref train --tensorboard`` (into the run directory, as
CleanRL writes into ``runs/RUN_NAME``), or afterwards from a run's CSVs by
``ppo-ref tensorboard RUN_DIR...``. Needs the ``tensorboard`` package
(``pip install 'ppo_ref[tensorboard]'``), which writes and reads event files
without TensorFlow or PyTorch.

Every scalar is logged at its global step, as CleanRL logs it:

- ``charts/episodic_return`` and ``charts/episodic_length``: one point per
  finished episode (episodes.csv), at the global step at which it finished.
- ``charts/SPS``: steps per second since the start of the run, CleanRL's
  ``int(global_step / elapsed time)`` (the column steps_per_second of
  metrics.csv is the speed of the one iteration instead).
- The other tags: one point per iteration (metrics.csv). ppo_ref's losses,
  approx_kl and the gradient norm are the means over all minibatches of the
  iteration; CleanRL logs those of the last minibatch (and the mean clipfrac).
  ppo_ref computes no ``old_approx_kl``, so nothing is logged under that tag.
  ``losses/grad_norm`` is ppo_ref's own (CleanRL has no such tag).
"""

import glob
import math
import os
import time

from ppo_ref.config import ConfigError
from ppo_ref.errors import import_optional

#: metrics.csv column -> CleanRL tag, logged once per iteration.
METRIC_TAGS = {
    "learning_rate": "charts/learning_rate",
    "v_loss": "losses/value_loss",
    "pg_loss": "losses/policy_loss",
    "entropy": "losses/entropy",
    "approx_kl": "losses/approx_kl",
    "clipfrac": "losses/clipfrac",
    "explained_variance": "losses/explained_variance",
    "grad_norm": "losses/grad_norm",
}
#: episodes.csv column -> CleanRL tag, logged once per episode.
EPISODE_TAGS = {"return": "charts/episodic_return", "length": "charts/episodic_length"}
SPS_TAG = "charts/SPS"
#: The suffix of the event files that ``ppo-ref tensorboard`` writes (and replaces).
CONVERTED_SUFFIX = ".ppo_ref_csv"


def _import():
    event_pb2 = import_optional("tensorboard.compat.proto.event_pb2", "TensorBoard logging", "tensorboard")
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    return EventFileWriter, event_pb2, summary_pb2


def check_available():
    """Raise a one-line MissingPackageError when the tensorboard package is missing."""
    _import()


def sps(global_step, wall_time):
    """CleanRL's charts/SPS: whole steps per second since the start of the run."""
    return int(global_step / wall_time) if wall_time > 0 else 0


class EventLog:
    """Appends scalars to a new event file in ``log_dir``.

    ``resume_step``: the run continues from a checkpoint at this global step. A
    start marker at the next step makes TensorBoard drop the points that an
    earlier, crashed process wrote after the checkpoint (which the resumed run
    writes again).
    """

    def __init__(self, log_dir, resume_step=None, filename_suffix=""):
        writer_cls, self._event_pb2, self._summary_pb2 = _import()
        os.makedirs(log_dir, exist_ok=True)
        self._writer = writer_cls(log_dir, flush_secs=10, filename_suffix=filename_suffix)
        self.path = self._writer._file_name
        if resume_step is not None:
            log = self._event_pb2.SessionLog(status=self._event_pb2.SessionLog.START)
            self._writer.add_event(self._event_pb2.Event(wall_time=time.time(), step=int(resume_step) + 1,
                                                         session_log=log))

    def scalars(self, step, values, wall_time=None):
        """Log ``{tag: value}`` at ``step``; empty and NaN values are left out."""
        summary = self._summary_pb2.Summary(value=[
            self._summary_pb2.Summary.Value(tag=tag, simple_value=float(v))
            for tag, v in values.items() if v != "" and not math.isnan(float(v))
        ])
        if summary.value:
            self._writer.add_event(self._event_pb2.Event(
                wall_time=time.time() if wall_time is None else wall_time, step=int(step), summary=summary))

    def episode(self, global_step, ret, length, wall_time=None):
        self.scalars(global_step, {EPISODE_TAGS["return"]: ret, EPISODE_TAGS["length"]: length}, wall_time)

    def metrics(self, row, wall_time=None):
        """One metrics row (a dict with the metrics.csv columns)."""
        values = {tag: row[k] for k, tag in METRIC_TAGS.items()}
        values[SPS_TAG] = sps(float(row["global_step"]), float(row["wall_time"]))
        self.scalars(row["global_step"], values, wall_time)

    def flush(self):
        self._writer.flush()

    def close(self):
        self._writer.close()


def find_runs(paths):
    """The run directories in ``paths``: each path that is one, and the run
    directories below each path that is not (such as docs/results/Hopper-v4)."""
    runs = []
    for path in paths:
        below = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(glob.escape(path), "**", "config.json"),
                                                             recursive=True))
        runs += [path] if os.path.isfile(os.path.join(path, "config.json")) or not below else below
    return runs


def convert(run_dir, out_dir=None):
    """Write the event file of a finished (or running) run from its CSVs, into
    ``out_dir`` (default: the run directory itself), replacing the one an
    earlier conversion wrote there. Returns the path of the event file."""
    from ppo_ref.run.report import load_run
    from ppo_ref.run.runlog import read_csv

    _, episodes, _ = load_run(run_dir)
    metrics = read_csv(os.path.join(run_dir, "metrics.csv"))
    _import()
    if out_dir is None:
        live = [f for f in glob.glob(os.path.join(glob.escape(run_dir), "events.out.tfevents.*"))
                if not f.endswith(CONVERTED_SUFFIX)]
        if live:
            raise ConfigError(f"{run_dir} already holds the event file its training wrote ({os.path.basename(live[0])}); "
                              "write a converted copy elsewhere with --out LOG_DIR")
        out_dir = run_dir
    for old in glob.glob(os.path.join(glob.escape(out_dir), "events.out.tfevents.*" + CONVERTED_SUFFIX)):
        os.remove(old)
    # Wall times: the run's own clock (seconds since its start), so that
    # TensorBoard's "relative" axis shows the training time.
    start = os.path.getmtime(os.path.join(run_dir, "config.json"))
    log = EventLog(out_dir, filename_suffix=CONVERTED_SUFFIX)
    try:
        rows = iter(metrics)
        row = next(rows, None)
        for ep in episodes:
            while row is not None and row["global_step"] < ep["global_step"]:
                log.metrics(row, start + row["wall_time"])
                row = next(rows, None)
            wall = start + (row["wall_time"] if row is not None else metrics[-1]["wall_time"] if metrics else 0.0)
            log.episode(ep["global_step"], ep["return"], ep["length"], wall)
        while row is not None:
            log.metrics(row, start + row["wall_time"])
            row = next(rows, None)
    finally:
        log.close()
    return log.path
