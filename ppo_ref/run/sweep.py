"""Sweeps: seeds x envs x variants of independent runs on Ray (``ppo-ref sweep``).

Each run is an ordinary run directory, ``OUT/ENV__VARIANT__seedS``, that eval,
summary, report, plot, compare and ``train --resume`` understand (they find the
runs of OUT as of any folder, with layout.find_runs); ``OUT/sweep.json`` holds
the grid, the runs and the library versions. A run already finished is skipped,
an interrupted one resumes from its checkpoint, a run whose worker process dies
is retried by Ray (from its last checkpoint), and a run that raises (a bad env
id, a bad value) is reported with its one-line error while the others go on.

Where a run's files are written (``files``):

- ``"shared"`` (the default on the local machine): every worker writes straight
  into ``OUT/NAME``, so ``OUT`` must be the same path on every node.
- ``"return"`` (the default with an address): the worker trains in a staging
  directory on its own node and returns the run's files, which the driver writes
  under ``OUT/NAME``. A retry on the same node resumes from the staged
  checkpoint; on another node, from the files the driver had when it started
  the run.

Ray is an optional dependency (``pip install 'ppo_ref[sweep]'``); it is imported
only when a sweep starts.
"""

import dataclasses
import hashlib
import itertools
import json
import os
import pathlib
import shutil
import socket
import tempfile
import time

from ppo_ref import numerics
from ppo_ref.config import Config, field_type, settings_text, validate
from ppo_ref.errors import UserError, import_optional, os_error_text
from ppo_ref.npzio import write_bytes_atomic
from ppo_ref.run import checkpoint as ckpt
from ppo_ref.run.checkpoint import CheckpointError
from ppo_ref.run.layout import CHECKPOINT_NAME, CONFIG_NAME

SPEC_NAME = "sweep.json"
SPEC_FORMAT = "ppo_ref-sweep"
MAX_RETRIES = 3  # Ray's retries of a run whose worker process or node dies
GRID_FIELDS = ("env_id", "seed", "run_dir")  # set by the sweep itself, not by --vary


class SweepError(UserError):
    """A sweep cannot start (no Ray, a bad grid); the message says why."""


def parse_seeds(text):
    """``"1-5"``, ``"1,3,7"`` or ``"1-3,7"`` -> a list of distinct seeds in order."""
    seeds = []
    for part in str(text).split(","):
        lo, sep, hi = part.strip().partition("-")
        try:
            first, last = int(lo), int(hi if sep else lo)
        except ValueError:
            raise SweepError(f"--seeds ({text!r}) must be seeds or ranges like 1-5,7") from None
        if first < 0 or last < first:
            raise SweepError(f"--seeds ({text!r}): {part.strip()} is not an increasing range of seeds >= 0")
        seeds += [s for s in range(first, last + 1) if s not in seeds]
    return seeds


def _parse_value(name, text):
    base, optional = field_type(name)
    if optional and text.lower() in ("none", "null"):
        return None
    if base is bool:
        if text.lower() in ("true", "yes", "1", "on"):
            return True
        if text.lower() in ("false", "no", "0", "off"):
            return False
        raise SweepError(f"--vary {name}: {text!r} is not true or false")
    try:
        return base(text)
    except ValueError:
        raise SweepError(f"--vary {name}: {text!r} is not a valid {base.__name__}") from None


def parse_vary(items):
    """``["bootstrap_truncation=true,false", "learning_rate=3e-4,1e-3"]`` -> an
    ordered dict from Config field to its values."""
    fields = {f.name for f in dataclasses.fields(Config)}
    vary = {}
    for item in items or ():
        name, sep, values = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not values.strip():
            raise SweepError(f"--vary {item!r} must be FIELD=VALUE1,VALUE2,...")
        if name not in fields:
            raise SweepError(f"--vary {name}: not a training setting (see ppo-ref train --help)")
        if name in GRID_FIELDS:
            raise SweepError(f"--vary {name}: set by the sweep itself (use --env-id, --seeds, --out)")
        if name in vary:
            raise SweepError(f"--vary {name} given twice")
        vary[name] = [_parse_value(name, v.strip()) for v in values.split(",")]
    return vary


def plan(env_ids, seeds, vary=None, base=None):
    """The runs of a sweep, ``[(name, Config)]``: every env x variant x seed."""
    vary = vary or {}
    base = dict(base or {})
    runs = []
    for env_id in env_ids:
        for values in itertools.product(*vary.values()):
            assignment = dict(zip(vary, values))
            for seed in seeds:
                name = f"{env_id}__{settings_text(assignment)}__seed{seed}"
                runs.append((name, Config.from_dict({**base, **assignment, "env_id": env_id, "seed": seed})))
    names = [n for n, _ in runs]
    if len(set(names)) != len(names):
        raise SweepError("the grid names the same run twice (an env id or a value given twice)")
    return runs


def checkpoint_iteration(run_dir):
    """The iteration of the checkpoint in ``run_dir`` (and its config), or (0, None)."""
    path = os.path.join(run_dir, CHECKPOINT_NAME)
    if not os.path.isfile(path):
        return 0, None
    arrays = ckpt.load(path)
    return int(arrays["iteration"]), ckpt.from_json_array(arrays["config"])


def run_status(run_dir, cfg):
    """``"new"``, ``"resume"`` or ``"finished"`` for the run of ``cfg`` in ``run_dir``;
    raises SweepError when ``run_dir`` holds a run of another config."""
    iteration, saved = checkpoint_iteration(run_dir)
    if saved is None:
        return "new"
    wanted = {k: v for k, v in cfg.to_dict().items() if k != "run_dir"}
    differ = [k for k, v in wanted.items() if saved.get(k) != v]
    if differ:
        k = differ[0]
        raise SweepError(f"{run_dir} holds a run with {k}={saved.get(k)!r}, not {wanted[k]!r}; "
                         "remove it or sweep into another --out")
    return "finished" if iteration >= cfg.num_iterations else "resume"


def _run_files(run_dir):
    return {path.name: path.read_bytes() for path in sorted(pathlib.Path(run_dir).iterdir())
            if path.is_file() and ".tmp-" not in path.name}


def _write_files(run_dir, files):
    os.makedirs(run_dir, exist_ok=True)
    for name, data in files.items():
        write_bytes_atomic(os.path.join(run_dir, name), data)


def staging_dir(out, name):
    """Where a worker trains a run whose files it returns: node-local, one per sweep and run."""
    digest = hashlib.sha256(os.path.abspath(out).encode()).hexdigest()[:12]
    return os.path.join(tempfile.gettempdir(), "ppo_ref-sweeps", digest, name)


def run_one(name, cfg_dict, out, files, sent, progress, callback=None):
    """Train one run of a sweep (in a Ray worker); returns where it ran and, with
    ``files="return"``, the run directory's files."""
    import ray

    from ppo_ref.train import train

    node = ray.get_runtime_context().get_node_id()
    if files == "shared":
        run_dir = os.path.join(out, name)
    else:
        run_dir = staging_dir(out, name)
        try:
            keep = run_status(run_dir, Config.from_dict(cfg_dict)) != "new"  # no checkpoint: nothing to keep
        except (SweepError, CheckpointError):  # staged by another sweep into the same --out path
            keep = False
        if not keep:
            shutil.rmtree(run_dir, ignore_errors=True)
        if sent and checkpoint_iteration(run_dir)[0] < sent_iteration(sent):
            shutil.rmtree(run_dir, ignore_errors=True)
            _write_files(run_dir, sent)

    def on_iteration(state):
        progress.report.remote(name, state.global_step, os.getpid())
        if callback is not None:
            callback(state)

    progress.report.remote(name, 0, os.getpid())
    quiet = lambda message: None  # noqa: E731 (the driver shows the progress)
    if os.path.isfile(os.path.join(run_dir, CHECKPOINT_NAME)):
        state = train(resume=run_dir, progress=False, log=quiet, callback=on_iteration)
    else:
        cfg = Config.from_dict({**cfg_dict, "run_dir": run_dir})
        state = train(cfg, progress=False, log=quiet, callback=on_iteration)
    result = {"name": name, "node": node, "global_step": state.global_step, "numerics": numerics.record()}
    if files == "return":
        result["files"] = _run_files(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)
        try:
            os.rmdir(os.path.dirname(run_dir))  # the sweep's staging folder, once its last run has left
        except OSError:
            pass
    return result


def sent_iteration(sent):
    """The iteration of the checkpoint among a run's files sent to a worker."""
    with tempfile.TemporaryDirectory() as d:
        _write_files(d, {CHECKPOINT_NAME: sent[CHECKPOINT_NAME]})
        return checkpoint_iteration(d)[0]


class Progress:
    """A Ray actor: each run's latest step and worker pid, reported after each iteration."""

    def __init__(self):
        self.runs = {}

    def report(self, name, step, pid):
        self.runs[name] = (step, pid)

    def get(self):
        return dict(self.runs)


def one_line(err):
    """A run's error as one line: a user error's own message, anything else with its type."""
    if isinstance(err, UserError):
        text = str(err)
    elif isinstance(err, OSError) and err.filename:
        text = os_error_text(err)
    else:
        text = f"{type(err).__name__}: {err}"
    return " ".join(text.split())


def earlier_runs(out):
    """The runs named in ``OUT/sweep.json`` by earlier sweeps into ``out`` ([] when
    there is none). Refuses an ``out`` that is a run directory, and a sweep.json that
    is not a ppo_ref sweep's (it would be replaced)."""
    if os.path.isfile(os.path.join(out, CONFIG_NAME)):
        raise SweepError(f"--out {out} is a run directory; sweep into a folder of its own")
    path = os.path.join(out, SPEC_NAME)
    if not os.path.isfile(path):
        return []
    try:
        with open(path, "rb") as f:
            spec = json.load(f)
    except ValueError:
        spec = None
    runs = spec.get("runs") if isinstance(spec, dict) and spec.get("format") == SPEC_FORMAT else None
    if not (isinstance(runs, list) and all(isinstance(n, str) for n in runs)):
        raise SweepError(f"{path} is not a ppo_ref sweep's spec (JSON with \"format\": \"{SPEC_FORMAT}\" and "
                         "its runs); sweep into another --out")
    return runs


def write_spec(out, env_ids, seeds, vary, base, runs, earlier=()):
    """``OUT/sweep.json``: the grid, the runs (``earlier``, those of earlier sweeps
    into OUT, first) and the versions."""
    import ray

    path = os.path.join(out, SPEC_NAME)
    names = list(earlier)
    names += [n for n, _ in runs if n not in names]
    spec = {
        "format": SPEC_FORMAT,
        "env_ids": list(env_ids),
        "seeds": list(seeds),
        "vary": {k: list(v) for k, v in vary.items()},
        "base": dict(base),
        "runs": names,
        "versions": {**ckpt.run_record(), "ray": ray.__version__},
    }
    write_bytes_atomic(path, (json.dumps(spec, indent=2) + "\n").encode())


def import_ray():
    return import_optional("ray", "ppo-ref sweep", "sweep")


def sweep(env_ids, seeds, out, vary=None, base=None, address=None, max_concurrent=None, files=None,
          log=print, interval=10.0, callback=None):
    """Run every env x variant x seed under ``out``; returns ``{name: status}`` with
    status ``"finished"``, ``"skipped"`` (finished before) or ``"failed: <error>"``.

    Uses the Ray session already started in this process if there is one, else
    starts Ray on this machine (``address=None``, ``num_cpus`` = ``max_concurrent``
    or the number of cores) or joins the cluster at ``address``. At most
    ``max_concurrent`` runs at once (default: the cluster's CPUs). ``callback(state)``
    is called in the worker after each iteration (tests use it to kill a worker).
    """
    ray = import_ray()
    vary, base = vary or {}, base or {}
    if max_concurrent is not None and max_concurrent < 1:
        raise SweepError(f"--max-concurrent ({max_concurrent}) must be a positive integer")
    if files is None:
        files = "shared" if address is None else "return"
    if files not in ("shared", "return"):
        raise SweepError(f"--files ({files!r}) must be shared or return")
    runs = plan(env_ids, seeds, vary, base)
    earlier = earlier_runs(out)
    if address is not None and not ray.is_initialized():
        check_address(address)
    os.makedirs(out, exist_ok=True)
    write_spec(out, env_ids, seeds, vary, base, runs, earlier)

    status, todo = {}, []
    for name, cfg in runs:
        run_dir = os.path.join(out, name)
        try:
            validate(dataclasses.replace(cfg))
            state = run_status(run_dir, cfg)
        except UserError as err:
            status[name] = f"failed: {one_line(err)}"
            log(f"{name}: failed: {one_line(err)}")
            continue
        if state == "finished":
            status[name] = "skipped"
        else:
            sent = _run_files(run_dir) if state == "resume" and files == "return" else None
            todo.append((name, cfg, sent))
    skipped = sum(s == "skipped" for s in status.values())
    log(f"sweep {out}: {len(runs)} runs, {skipped} finished before, {len(todo)} to run")

    started = not ray.is_initialized()
    if started and todo:
        ray.init(address=address, num_cpus=None if address else (max_concurrent or os.cpu_count()),
                 include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        if todo:
            _drive(ray, todo, out, files, max_concurrent, status, log, interval, callback)
    finally:
        if started and ray.is_initialized():
            ray.shutdown()
    counts = {k: sum(s.startswith(k) for s in status.values()) for k in ("finished", "skipped", "failed")}
    log(f"sweep {out}: {counts['finished']} finished, {counts['skipped']} skipped (finished before), "
        f"{counts['failed']} failed")
    return status


def check_address(address, timeout=10.0):
    """Refuse, before anything is written, an ``--address`` that is not ``auto`` or
    ``[ray://]HOST:PORT``, or whose port does not accept a connection (Ray itself
    retries an unreachable address for minutes)."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SweepError(f"--address ({address!r}) must be auto or HOST:PORT, such as 10.0.0.5:6379")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as err:
        reason = "timed out" if isinstance(err, TimeoutError) else err.strerror or str(err)
        raise SweepError(f"--address {address}: no Ray cluster answers there ({reason}); start one with "
                         "ray start --head, or leave --address out to run on this machine") from None


def _drive(ray, todo, out, files, max_concurrent, status, log, interval, callback):
    limit = max_concurrent or max(1, int(ray.cluster_resources().get("CPU", 1)))
    # SPREAD: independent runs go to different nodes while there are free ones,
    # rather than filling one node first.
    # The workers compute in this process's numerics (SPEC 8.2): Ray starts them
    # with these variables set, before numpy loads.
    remote = ray.remote(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False,
                        scheduling_strategy="SPREAD",
                        runtime_env={"env_vars": numerics.child_env()})(run_one)
    progress = ray.remote(num_cpus=0)(Progress).remote()
    out_abs = os.path.abspath(out)
    queue, inflight = list(todo), {}
    totals = {name: cfg.num_iterations * cfg.batch_size for name, cfg, _ in todo}
    last_shown = 0.0
    while queue or inflight:
        while queue and len(inflight) < limit:
            name, cfg, sent = queue.pop(0)
            ref = remote.remote(name, cfg.to_dict(), out_abs, files, sent, progress, callback)
            inflight[ref] = name
        done, _ = ray.wait(list(inflight), num_returns=1, timeout=min(interval, 1.0))
        for ref in done:
            name = inflight.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayTaskError as err:
                cause = getattr(err, "cause", None) or err
                status[name] = f"failed: {one_line(cause)}"
            except ray.exceptions.RayError as err:  # the worker or node died MAX_RETRIES + 1 times
                status[name] = f"failed: {one_line(err).splitlines()[0]}"
            else:
                if "files" in result:
                    _write_files(os.path.join(out, name), result["files"])
                status[name] = "finished"
                if not numerics.same_numbers(result["numerics"], numerics.record()):
                    log(f"{name}: its worker computed in {numerics.describe(result['numerics'])}, this process in "
                        f"{numerics.describe()}: {result['numerics']['reason'] or 'native numerics'}")
            log(f"{name}: {status[name]}" + (f" on node {result['node'][:12]}" if status[name] == "finished" else ""))
        now = time.monotonic()
        if now - last_shown >= interval and inflight:
            last_shown = now
            steps = ray.get(progress.get.remote())
            log(progress_line(status, inflight.values(), len(queue), steps, totals))


def progress_line(status, running, waiting, steps, totals):
    """``runs: 3 finished, 2 running, 0 failed, 5 waiting | NAME 2048/1000000 | ...``"""
    done = sum(s in ("finished", "skipped") for s in status.values())
    failed = sum(s.startswith("failed") for s in status.values())
    running = list(running)
    parts = [f"runs: {done} finished, {len(running)} running, {failed} failed, {waiting} waiting"]
    parts += [f"{name} {steps.get(name, (0, None))[0]}/{totals[name]}" for name in running]
    return " | ".join(parts)

