"""The error that stops a run when a number goes NaN or infinite."""

import numpy as np


class NonFiniteError(RuntimeError):
    """A loss, gradient, parameter, observation or reward is NaN or infinite.

    ``where`` lists the context, outermost first ("iteration 3", "minibatch 5"):
    each caller that knows some adds it on the way up.
    """

    def __init__(self, what):
        super().__init__(what)
        self.what = what
        self.where = []

    def __str__(self):
        at = f" at {', '.join(self.where)}" if self.where else ""
        return f"non-finite {self.what}{at}; the last checkpoint holds the last finite state"


def check_finite(what, x):
    if not np.all(np.isfinite(x)):
        raise NonFiniteError(what)
