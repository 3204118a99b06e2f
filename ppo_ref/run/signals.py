"""Stopping a run cleanly on SIGINT or SIGTERM."""

import signal


class StopRequested:
    """SIGINT/SIGTERM set a flag; the loop checkpoints and stops after the current
    iteration's update, so a checkpoint never holds a half-finished iteration.
    A second signal stops at once (KeyboardInterrupt)."""

    def __init__(self):
        self.signum = None

    def __enter__(self):
        self._old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum, frame):
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)

    @property
    def name(self):
        return signal.Signals(self.signum).name
