"""The update on two cores: each minibatch's value-network half (forward pass,
value loss, backward pass and Adam) in a second process while this one computes
the policy half, for ``train --update-worker``.

The two halves share no parameter: the value loss reaches only v.*, the policy
loss only pi.* and log_std. They meet twice per minibatch: the global gradient
norm (SPEC 6.2) needs every gradient, and the Adam step count is common. So:

1. this process writes the minibatch's observations, returns and old values into
   shared memory and asks the worker for the value half; it computes the policy
   half meanwhile;
2. with the worker's ``L_v``, it sums the loss, the global norm over all
   gradients (in the shared gradient buffer) and the clipping scale, as
   FastLearner does;
3. both apply Adam to their own parameters, elementwise, in parallel.

The same operations on the same numbers as :class:`ppo_ref.fast.FastLearner`
(tests/test_engines.py trains both ways and compares every bit). The parameters,
Adam's moments and the gradients live in shared memory for the whole update.
"""

import os
import select
import signal
import socket
import subprocess
import sys
import time
from multiprocessing import resource_tracker, shared_memory
from multiprocessing.connection import Connection

import numpy as np
from threadpoolctl import threadpool_limits

from ppo_ref.fast.adam import BUFFERS, PackedAdam, _views, adam_apply
from ppo_ref.fast.loss import policy_part, total, value_part

VALUE_PREFIX = "v."
# How long a process waiting for the other polls its socket before it sleeps in
# recv: waking a sleeping process costs tens of microseconds on a VM, a
# minibatch's half about a millisecond. The spin only lasts while the other
# process is busy, on a core that would otherwise be idle.
SPIN_SECONDS = 0.005


def spin_recv(conn, poller, seconds=SPIN_SECONDS):
    """``conn.recv()``, polling for up to ``seconds`` before blocking."""
    deadline = time.perf_counter() + seconds
    while not poller.poll(0) and time.perf_counter() < deadline:
        pass
    return conn.recv()


def _poller(conn):
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    return poller


class UpdateWorkerError(RuntimeError):
    """The update worker process failed or exited; the message says how."""


class UpdateWorker:
    """The second process. Start it once per run (it imports numpy and the fast
    engine) and close it at the end; a context manager.

    It is a fresh interpreter running :func:`serve`: not a fork (the training
    process may hold threads), nor multiprocessing's spawn (which would run the
    caller's script again). It talks over a socket pair, runs in a session of its
    own (Ctrl-C is the training process's to handle) with one BLAS thread, and
    exits when the socket closes."""

    def __init__(self):
        ours, theirs = socket.socketpair()
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        try:
            code = f"import ppo_ref.fast.split as s; s.serve({theirs.fileno()})"
            self._proc = subprocess.Popen([sys.executable, "-c", code], pass_fds=(theirs.fileno(),),
                                          stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        self._poller = _poller(self._conn)
        self.pending = 0  # requests sent whose reply has not been read

    def send(self, *message):
        try:
            self._conn.send(message)
        except OSError:
            raise self._exited() from None
        self.pending += 1

    def receive(self):
        try:
            kind, value = spin_recv(self._conn, self._poller)
        except (EOFError, OSError):
            raise self._exited() from None
        finally:
            self.pending -= 1
        if kind == "error":
            raise UpdateWorkerError(f"the update worker failed: {value}")
        return value

    def _exited(self):
        try:
            code = self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = "unknown: it closed its socket but is still running"
        return UpdateWorkerError(f"the update worker process exited (exit code {code})")

    def drain(self):
        """Read the replies still owed (after an error in this process mid-minibatch)."""
        while self.pending > 0:
            try:
                self.receive()
            except UpdateWorkerError:
                pass

    def close(self):
        if self._proc.poll() is None:
            try:
                self._conn.send(None)
                self._proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _aligned(nbytes):
    return -(-nbytes // 64) * 64


class SplitLearner:
    """FastLearner's interface (loss_and_grads, step, all_finite, finish, close) with
    the value half computed by an :class:`UpdateWorker`: a :class:`PackedAdam` whose
    buffers are one shared block, the value parameters first, so each process
    updates one contiguous part."""

    def __init__(self, params, opt, worker):
        self._dest = params, opt
        self.worker = worker
        names = [k for k in params if k.startswith(VALUE_PREFIX)] + [k for k in params
                                                                     if not k.startswith(VALUE_PREFIX)]
        n = sum(params[k].size for k in names)
        dtype = params[names[0]].dtype
        stride = _aligned(n * dtype.itemsize)
        self.shm = shared_memory.SharedMemory(create=True, size=stride * len(BUFFERS))
        self.mb_shm = self.mb_slots = None
        handed_out = iter(range(len(BUFFERS)))
        self.adam = PackedAdam(params, opt, names,
                               empty=lambda size, dt: np.ndarray(size, dt, self.shm.buf, next(handed_out) * stride))
        self.params, self.grads = self.adam.params, self.adam.grads
        n_value = sum(params[k].size for k in names if k.startswith(VALUE_PREFIX))
        self.own = slice(n_value, n)
        self.worker_finite = True
        value_shapes = {k: s for k, s in self.adam.shapes.items() if k.startswith(VALUE_PREFIX)}
        try:
            worker.send("begin", self.shm.name, value_shapes, dtype.str, stride, n_value)
            worker.receive()
        except BaseException:
            self.close()
            raise

    def _minibatch_slots(self, mb):
        """Shared arrays for the worker's share of a minibatch: obs, returns, old values."""
        layout = [(mb[k].shape, mb[k].dtype.str) for k in ("obs", "returns", "values_old")]
        if self.mb_shm is None or layout != self.mb_layout:
            if self.mb_shm is not None:
                self.mb_shm.close()
                self.mb_shm.unlink()
            sizes = [_aligned(int(np.prod(s)) * np.dtype(d).itemsize) for s, d in layout]
            self.mb_shm = shared_memory.SharedMemory(create=True, size=sum(sizes))
            offsets = np.cumsum([0] + sizes[:-1]).tolist()
            self.mb_slots = [np.ndarray(s, d, self.mb_shm.buf, o) for (s, d), o in zip(layout, offsets)]
            self.mb_layout = layout
            self.worker.send("minibatch", self.mb_shm.name, layout, offsets)
            self.worker.receive()
        return self.mb_slots

    def loss_and_grads(self, cfg, mb):
        for slot, key in zip(self._minibatch_slots(mb), ("obs", "returns", "values_old")):
            slot[...] = mb[key]
        self.worker.send("value", cfg.clip_coef, cfg.vf_coef, cfg.clip_vloss)
        pg_loss, ent, info = policy_part(self.params, mb["obs"], mb["actions"], mb["logprobs_old"], mb["advantages"],
                                         cfg.clip_coef, cfg.ent_coef, cfg.norm_adv, self.grads)
        v_loss = self.worker.receive()
        loss, info = total(pg_loss, ent, v_loss, cfg.ent_coef, cfg.vf_coef, info)
        return loss, self.grads, info

    def step(self, grads, scale, lr):
        self.worker.send("step", scale, lr, self.adam.t + 1)
        self.adam.step(scale, lr, self.own)
        self.worker_finite = self.worker.receive()

    def all_finite(self):
        return self.worker_finite and bool(np.isfinite(self.adam.flat[self.own]).all())

    def finish(self):
        self.adam.unpack(*self._dest)

    def close(self):
        """Let go of the shared memory (the worker first); called after finish or an error."""
        self.worker.drain()
        try:
            self.worker.send("end")
            self.worker.receive()
        except UpdateWorkerError:
            pass
        self.adam = self.params = self.grads = self.mb_slots = None
        for shm in (self.shm, self.mb_shm):
            if shm is not None:
                shm.close()
                shm.unlink()
        self.shm = self.mb_shm = None


def _attach(name):
    shm = shared_memory.SharedMemory(name=name)
    # The block belongs to the process that made it; do not let this process's
    # resource tracker unlink it (or warn of a leak) when this one exits.
    resource_tracker.unregister(shm._name, "shared_memory")
    return shm


def _serve(conn):
    """The worker's loop: one request, one reply, until None or the socket closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    poller = _poller(conn)
    with threadpool_limits(limits=1, user_api="blas"):
        state = {}
        while True:
            try:
                # Inside an update the next request follows within a millisecond.
                message = spin_recv(conn, poller) if "shm" in state else conn.recv()
            except (EOFError, OSError):
                return
            if message is None:
                return
            try:
                reply = _handle(state, *message)
            except Exception as err:  # reported to the training process, which raises it
                reply = ("error", f"{type(err).__name__}: {err}")
            conn.send(reply)


def _handle(state, kind, *args):
    if kind == "begin":
        name, shapes, dtype, stride, n_value = args
        state["shm"] = shm = _attach(name)
        buf = {b: np.ndarray(n_value, np.dtype(dtype), shm.buf, i * stride) for i, b in enumerate(BUFFERS)}
        state["own"] = tuple(buf[b] for b in BUFFERS)
        state["params"] = _views(buf["flat"], shapes)
        state["grads"] = _views(buf["grad"], shapes)
        return ("ok", None)
    if kind == "minibatch":
        name, layout, offsets = args
        if "mb_shm" in state:
            state.pop("mb_slots")
            state.pop("mb_shm").close()
        state["mb_shm"] = shm = _attach(name)
        state["mb_slots"] = [np.ndarray(s, np.dtype(d), shm.buf, o) for (s, d), o in zip(layout, offsets)]
        return ("ok", None)
    if kind == "value":
        clip_coef, vf_coef, clip_vloss = args
        obs, returns, values_old = state["mb_slots"]
        return ("ok", value_part(state["params"], obs, returns, values_old, clip_coef, vf_coef, clip_vloss,
                                 state["grads"]))
    if kind == "step":
        scale, lr, t = args
        flat, m, v, grad, work0, work1 = state["own"]
        grad *= scale
        adam_apply(flat, grad, m, v, t, lr, (work0, work1))
        return ("ok", bool(np.isfinite(flat).all()))
    if kind == "end":
        for key in ("own", "params", "grads", "mb_slots"):
            state.pop(key, None)
        for key in ("shm", "mb_shm"):
            if key in state:
                state.pop(key).close()
        return ("ok", None)
    raise ValueError(f"unknown request {kind!r}")



def serve(fd):
    """The worker process's entry point: serve requests on the socket ``fd``."""
    _serve(Connection(fd))
