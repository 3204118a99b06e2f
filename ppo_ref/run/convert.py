"""``ppo-ref tensorboard RUN_DIR...``: a run's CSVs as a TensorBoard event file, under
CleanRL's tag names (tensorboard.py), for runs trained without ``--tensorboard``."""

import glob
import os

from ppo_ref.run import layout
from ppo_ref.run.tensorboard import CONVERTED_SUFFIX, EventLog, check_available


def convert(run_dir, out_dir=None):
    """Write the event file of a finished (or running) run from its CSVs, into
    ``out_dir`` (default: the run directory itself), replacing the one an
    earlier conversion wrote there. Returns the path of the event file."""
    _, episodes, metrics = layout.load_run(run_dir)
    check_available()
    if out_dir is None:
        live = [f for f in layout.event_files(run_dir) if not f.endswith(CONVERTED_SUFFIX)]
        if live:
            raise layout.RunDirError(f"{run_dir} already holds the event file its training wrote "
                                     f"({os.path.basename(live[0])}); write a converted copy elsewhere with "
                                     "--out LOG_DIR")
        out_dir = run_dir
    for old in glob.glob(os.path.join(glob.escape(out_dir), layout.EVENTS_PREFIX + "*" + CONVERTED_SUFFIX)):
        os.remove(old)
    # Wall times: the run's own clock (seconds since its start), so that
    # TensorBoard's "relative" axis shows the training time.
    start = os.path.getmtime(os.path.join(run_dir, layout.CONFIG_NAME))
    log = EventLog(out_dir, filename_suffix=CONVERTED_SUFFIX)
    try:
        rows = iter(metrics)
        row = next(rows, None)
        for ep in episodes:
            while row is not None and row["global_step"] < ep["global_step"]:
                log.metrics(row, start + row["wall_time"])
                row = next(rows, None)
            wall = start + (row["wall_time"] if row is not None else metrics[-1]["wall_time"])
            log.episode(ep["global_step"], ep["return"], ep["length"], wall)
        while row is not None:
            log.metrics(row, start + row["wall_time"])
            row = next(rows, None)
    finally:
        log.close()
    return log.path
