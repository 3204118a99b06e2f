"""TensorBoard event files under CleanRL's tag names, so that a ppo_ref run and a
run of CleanRL's ``ppo_continuous_action.py`` overlay in one TensorBoard.

Written live by ``ppo-ref train --tensorboard`` (into the run directory, as
CleanRL writes into ``runs/RUN_NAME``), or afterwards from a run's CSVs by
``ppo-ref tensorboard RUN_DIR...`` (convert.py); read back by ``ppo-ref compare``
(:func:`read_scalars`, for CleanRL's runs as for ppo_ref's). Needs the
``tensorboard`` package (``pip install 'ppo_ref[tensorboard]'``), which writes and
reads event files without TensorFlow or PyTorch.

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

import math
import os
import time

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


def read_scalars(path, tag):
    """``(steps, values)`` of the scalars under ``tag`` in an event file or a
    directory of them, read with TensorBoard's own reader (which drops the points
    that a restart marker, written by a resumed run, supersedes)."""
    acc = import_optional("tensorboard.backend.event_processing.event_accumulator",
                          "reading TensorBoard event files", "tensorboard")
    events = acc.EventAccumulator(os.fspath(path), size_guidance={acc.SCALARS: 0})
    events.Reload()
    if tag not in events.Tags()["scalars"]:
        return [], []
    scalars = events.Scalars(tag)
    return [e.step for e in scalars], [e.value for e in scalars]
