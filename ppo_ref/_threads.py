"""Helpers for the two places that use threads: envs stepped on threads
(envs.ThreadVectorEnv) and the value part of the loss computed beside the policy
part (losses.ppo_loss_unchecked). Neither changes a computed number."""

import os
from concurrent.futures import wait


def usable_cores():
    """The number of cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):  # Linux
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def wait_uninterrupted(futures):
    """Wait for every future, even through KeyboardInterrupt (re-raised after), so
    that no thread is left writing arrays that the caller goes on to read, save or
    free."""
    interrupted = None
    while True:
        try:
            wait(futures)
            break
        except KeyboardInterrupt as err:
            interrupted = err
    if interrupted is not None:
        raise interrupted
