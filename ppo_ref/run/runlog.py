"""Writing a run directory (its layout and reading: layout.py): config.json, and the
metrics and episodes CSVs, row by row.

Rows are appended and flushed as they come. On resume, rows written after the
checkpoint (by a run that then crashed) are dropped, so the CSVs and the resumed
run agree.
"""

import csv
import glob
import io
import json
import os

try:
    import fcntl
except ImportError:  # not a POSIX system: no lock
    fcntl = None

from ppo_ref.npzio import write_bytes_atomic
from ppo_ref.run.layout import (CHECKPOINT_NAME, CONFIG_NAME, EPISODES_FIELDS, EPISODES_NAME, METRICS_FIELDS,
                                METRICS_NAME, RunDirError)
from ppo_ref.run.tensorboard import EventLog


class RunLog:
    def __init__(self, run_dir, config_dict, resume_step=None, tensorboard=False):
        """Open ``run_dir`` for a new run (``resume_step=None``) or to continue one
        whose checkpoint is at ``resume_step`` global steps; ``tensorboard``: also
        write the rows as TensorBoard scalars (tensorboard.py). While it is open,
        the run directory is locked (an exclusive ``flock`` of its config.json): a
        second training process in the same directory is refused before it changes
        any file."""
        self.run_dir = run_dir
        self._tb = None
        self._files = {}
        os.makedirs(run_dir, exist_ok=True)
        self._config = _lock(run_dir)
        try:
            self._open(config_dict, resume_step, tensorboard)
        except BaseException:
            self.close()
            raise

    def _open(self, config_dict, resume_step, tensorboard):
        run_dir = self.run_dir
        if tensorboard:
            self._tb = EventLog(run_dir, resume_step)
        self.checkpoint_path = os.path.join(run_dir, CHECKPOINT_NAME)
        for name in (CHECKPOINT_NAME, METRICS_NAME, EPISODES_NAME):
            for stale in glob.glob(glob.escape(os.path.join(run_dir, name)) + ".tmp-*"):
                os.remove(stale)  # left by a process killed while writing the file atomically
        if resume_step is None or self._config.tell() == 0:  # a new run, or a checkpoint resumed in a folder of its own
            self._config.truncate(0)
            self._config.write(json.dumps(config_dict, indent=2) + "\n")
            self._config.flush()
        self._writers = {}
        for name, file_name, fields in (("metrics", METRICS_NAME, METRICS_FIELDS),
                                        ("episodes", EPISODES_NAME, EPISODES_FIELDS)):
            path = os.path.join(run_dir, file_name)
            if resume_step is not None and os.path.exists(path):
                _truncate_after(path, resume_step)
                f = open(path, "a", newline="")
            else:
                f = open(path, "w", newline="")
                csv.writer(f).writerow(fields)
            self._files[name] = f
            self._writers[name] = csv.writer(f)

    def episode(self, global_step, ret, length):
        self._writers["episodes"].writerow((global_step, repr(ret), length))
        if self._tb is not None:
            self._tb.episode(global_step, ret, length)

    def metrics(self, row):
        self._writers["metrics"].writerow([_fmt(row[k]) for k in METRICS_FIELDS])
        for f in self._files.values():
            f.flush()
        if self._tb is not None:
            self._tb.metrics(row)

    def close(self):
        for f in self._files.values():
            f.close()
        if self._tb is not None:
            self._tb.close()
        self._config.close()  # and with it the lock


def _lock(run_dir):
    """config.json of ``run_dir``, opened for appending (nothing is truncated yet) and
    locked; a RunDirError when another process holds the lock."""
    f = open(os.path.join(run_dir, CONFIG_NAME), "a")
    if fcntl is not None:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise RunDirError(f"{run_dir} is in use by another training process; wait for it to end or choose "
                              "another --run-dir") from None
    return f


def _fmt(v):
    return repr(v) if isinstance(v, float) else v


def _truncate_after(path, global_step):
    """Keep the header and the rows with global_step <= ``global_step``; atomic."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    col = rows[0].index("global_step")
    kept = [rows[0]] + [r for r in rows[1:] if len(r) == len(rows[0]) and int(r[col]) <= global_step]
    text = io.StringIO(newline="")
    csv.writer(text).writerows(kept)
    write_bytes_atomic(path, text.getvalue().encode())

