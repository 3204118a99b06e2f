"""Where a training iteration's time goes: named laps, accumulated.

``lap(name)`` charges the time since the previous lap (or ``restart``) to
``name``. The cost is one ``perf_counter`` call, so the loop keeps it on always;
``make bench`` prints the totals.
"""

import time
from collections import defaultdict


class Stopwatch:
    def __init__(self):
        self.totals = defaultdict(float)
        self._last = time.perf_counter()

    def restart(self):
        self._last = time.perf_counter()

    def lap(self, name):
        now = time.perf_counter()
        self.totals[name] += now - self._last
        self._last = now

    def reset(self):
        self.totals.clear()
        self.restart()
