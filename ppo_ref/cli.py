"""Command line: ``ppo-ref train``, ``eval``, ``summary``, ``golden``, ``check-port``, ``export-torch``,
``plot``, ``report``, ``tensorboard``, ``sweep``, ``compare``.

The train flags are generated from :class:`ppo_ref.config.Config`, the one source
of names, defaults and help text. Errors the user can fix are printed as one line
(``ppo-ref: error: ...``) with exit code 2.
"""

import argparse
import dataclasses
import errno
import os
import sys

import numpy as np

from ppo_ref import __version__, numerics
from ppo_ref.config import Config, ConfigError, field_type, flag
from ppo_ref.errors import UserError, os_error_text


def _add_config_flags(parser, skip=()):
    for f in dataclasses.fields(Config):
        if f.name in skip:
            continue
        help_text = f"{f.metadata['help']} (default: {f.default})"
        kw = {"default": argparse.SUPPRESS, "help": help_text, "dest": f.name}
        base, _ = field_type(f.name)
        if base is bool:
            parser.add_argument(flag(f.name), action=argparse.BooleanOptionalAction, **kw)
        else:
            parser.add_argument(flag(f.name), type=base, metavar=f.name.upper(), choices=f.metadata["choices"], **kw)


def _add_numerics_flag(parser):
    parser.add_argument("--native-numerics", action="store_true",
                        help="compute with this machine's own choice of BLAS kernel and SIMD level (faster on "
                             "some CPUs, other last bits) instead of portable x86-64-v3 numerics, the same bits "
                             "on every x86-64 CPU with AVX2 and FMA (SPEC 8.2)")


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line (``--help`` shows the usage)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    parser = _Parser(prog="ppo-ref", description="PPO for continuous control in pure numpy.")
    parser.add_argument("--version", action="version", version=f"ppo_ref {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = sub.add_parser("train", help="train PPO (defaults: CleanRL's MuJoCo settings on Humanoid-v4)",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    train.set_defaults(func=_train)
    _add_config_flags(train)
    _add_numerics_flag(train)
    train.add_argument("--resume", metavar="RUN_DIR", default=None,
                       help="continue the run in RUN_DIR (or from a checkpoint file) with its saved config")
    train.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="show a progress bar (default: when stderr is a terminal)")

    ev = sub.add_parser("eval", help="evaluate a checkpoint with frozen normaliser statistics, or render a video "
                                     "of it (--video, --gif; needs ppo_ref[video])")
    ev.set_defaults(func=_eval)
    _add_numerics_flag(ev)
    ev.add_argument("checkpoint", metavar="CHECKPOINT_OR_RUN_DIR")
    ev.add_argument("--episodes", type=int, default=None,
                    help="number of episodes (default: 10, or 1 with --video or --gif)")
    ev.add_argument("--deterministic", action="store_true", help="act with the mean action instead of sampling")
    ev.add_argument("--seed", type=int, default=0, help="seed of the evaluation episodes and action noise (default: 0)")
    ev.add_argument("--actions", metavar="OUT.npz", default=None,
                    help="also write every step's raw and normalised observation, policy mean, noise and action "
                         "sent to the env, to check a port's policy per observation (docs/porting.md §2)")
    ev.add_argument("--video", metavar="OUT.mp4", default=None,
                    help="render the episodes into this new MP4 file (a GIF if the name ends in .gif), "
                         "headless through EGL or OSMesa")
    ev.add_argument("--gif", metavar="OUT.gif", default=None,
                    help="render the episodes into this new GIF (about 25 frames per second, for READMEs)")
    ev.add_argument("--width", type=int, default=320, help="video frame width (default: 320)")
    ev.add_argument("--height", type=int, default=240, help="video frame height (default: 240)")
    ev.add_argument("--max-steps", type=int, default=None, metavar="N",
                    help="with --video or --gif: stop each episode after N steps (default: at its end)")
    ev.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                    help="show a progress bar while rendering (default: when stderr is a terminal)")
    summary = sub.add_parser("summary", help="a run's recent training return next to a random policy's")
    summary.set_defaults(func=_summary)
    summary.add_argument("run_dir", metavar="RUN_DIR")
    summary.add_argument("--last", type=int, default=20, help="average over the last N training episodes (default: 20)")
    _add_port_commands(sub)

    plot = sub.add_parser("plot", help="learning curves (one PNG per env) from run directories; needs ppo_ref[plot]")
    plot.set_defaults(func=_plot)
    plot.add_argument("run_dirs", nargs="+", metavar="RUN_DIR_OR_SWEEP_DIR")
    plot.add_argument("--out", default=".", help="folder for the PNG files (default: .)")
    report = sub.add_parser("report", help="a Markdown results table (one row per env) from run directories")
    report.set_defaults(func=_report)
    report.add_argument("run_dirs", nargs="+", metavar="RUN_DIR_OR_SWEEP_DIR")
    tb = sub.add_parser("tensorboard", help="TensorBoard event files (CleanRL's tag names) from run directories' "
                                            "CSVs; needs ppo_ref[tensorboard]")
    tb.set_defaults(func=_tensorboard)
    tb.add_argument("run_dirs", nargs="+", metavar="RUN_DIR_OR_SWEEP_DIR",
                    help="run directories, or directories holding run directories (docs/results, a sweep)")
    tb.add_argument("--out", default=None, metavar="LOG_DIR",
                    help="write LOG_DIR/<run directory's path below the runs' common folder>/events.* "
                         "(default: into each run directory)")
    _add_sweep_command(sub)
    _add_compare_command(sub)
    return parser


def _add_compare_command(sub):
    from ppo_ref.run.compare import MIN_RUNS, SCORES
    from ppo_ref.run.stats import RESAMPLES

    cmp = sub.add_parser("compare", help="compare the learning of two groups of runs (ppo_ref's, a port's, "
                                         "CleanRL's) with confidence intervals; needs ppo_ref[compare]")
    cmp.set_defaults(func=_compare)
    cmp.add_argument("paths", nargs="+", metavar="RUNS",
                     help="group A: ppo_ref run or sweep directories, folders of TensorBoard event files "
                          "(CleanRL's runs/), CSVs of global_step,episodic_return, or folders of them")
    cmp.add_argument("--vs", nargs="+", required=True, metavar="RUNS", help="group B, of the same kinds")
    cmp.add_argument("--names", nargs=2, default=("A", "B"), metavar=("A", "B"),
                     help="the groups' names in the tables and figures (default: A B)")
    cmp.add_argument("--score", choices=tuple(SCORES), default="last-100",
                     help="each run's final score: the mean return of its last 100 training episodes "
                          "(CleanRL's metric), or the deterministic evaluation kept in its eval.txt "
                          "(default: last-100)")
    cmp.add_argument("--reference", action="append", default=[], metavar="ENV=LOW,HIGH",
                     help="the scores that normalise ENV, an env both groups ran, to 0 and 1 across envs "
                          "(repeatable; with --across-versions, Hopper-v4 or Hopper names Hopper; default: the "
                          "random policy's mean return and group B's mean score)")
    cmp.add_argument("--across-versions", action="store_true",
                     help="pair envs by name without their version (Hopper-v4 with Hopper-v5)")
    cmp.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default: 0)")
    cmp.add_argument("--resamples", type=int, default=RESAMPLES,
                     help=f"bootstrap resamples (default: {RESAMPLES})")
    cmp.add_argument("--out", default=None, metavar="DIR",
                     help="write compare.md, compare.csv and one figure per env (needs ppo_ref[plot]) into DIR; "
                          f"groups of fewer than {MIN_RUNS} runs are warned about")


def _add_sweep_command(sub):
    from ppo_ref.run.sweep import GRID_FIELDS

    sweep = sub.add_parser("sweep", help="seeds x envs x variants of runs on Ray, locally or on a cluster; "
                           "needs ppo_ref[sweep] (docs/sweeps.md)")
    sweep.set_defaults(func=_sweep)
    sweep.add_argument("--env-id", nargs="+", required=True, metavar="ENV_ID", help="environment ids")
    sweep.add_argument("--seeds", default="1", help="seeds: 1-5, 1,3,7 or 1-3,7 (default: 1)")
    sweep.add_argument("--vary", action="append", default=[], metavar="FIELD=V1,V2",
                       help="a grid over a training setting, e.g. bootstrap_truncation=true,false (repeatable)")
    sweep.add_argument("--out", required=True, help="sweep directory: one run directory per run and sweep.json")
    sweep.add_argument("--address", default=None,
                       help="an existing Ray cluster (auto, or HOST:PORT; default: start Ray on this machine)")
    sweep.add_argument("--max-concurrent", type=int, default=None,
                       help="runs at once (default: the number of cores, or the cluster's CPUs)")
    sweep.add_argument("--files", choices=("shared", "return"), default=None,
                       help="shared: workers write under --out (one filesystem); return: workers send the run's "
                            "files back to this machine (default: shared locally, return with --address)")
    _add_config_flags(sweep, skip=GRID_FIELDS)
    _add_numerics_flag(sweep)


def _add_port_commands(sub):
    """golden, check-port and export-torch: the tools for checking and feeding ports."""
    from ppo_ref.port.check import DEFAULT_ATOL, DEFAULT_RTOL, FLOAT32_TOL

    golden = sub.add_parser("golden", help="write the golden test vectors (one .npz per case and index.json)")
    golden.set_defaults(func=_golden)
    _add_numerics_flag(golden)
    golden.add_argument("out_dir", metavar="OUT_DIR")
    check = sub.add_parser("check-port", help="compare a port's outputs with the golden vectors, tensor by tensor")
    check.set_defaults(func=_check_port)
    _add_numerics_flag(check)
    check.add_argument("vectors_dir", metavar="VECTORS_DIR")
    check.add_argument("outputs", metavar="OUTPUTS.npz", nargs="?",
                       help="the port's outputs, keys '<case>/<array name>' (see --list)")
    check.add_argument("--list", action="store_true",
                       help="print every key a port must write, with its shape, dtype and meaning, and exit")
    check.add_argument("--first", action="store_true",
                       help="stop at the first mismatch instead of reporting every tensor")
    check.add_argument("--float32", action="store_true",
                       help=f"a float32 port: each tensor within {FLOAT32_TOL:g} of its largest golden magnitude "
                            "(instead of --rtol and --atol; see docs/porting.md)")
    check.add_argument("--rtol", type=float, default=None,
                       help=f"relative tolerance (default: {DEFAULT_RTOL})")
    check.add_argument("--atol", type=float, default=None,
                       help=f"absolute tolerance (default: {DEFAULT_ATOL})")
    check.add_argument("--case", action="append", default=None, metavar="NAME",
                       help="check only this case (repeatable; default: all)")
    export = sub.add_parser("export-torch", help="write a checkpoint's parameters as a CleanRL Agent state dict (.npz)")
    export.set_defaults(func=_export_torch)
    _add_numerics_flag(export)
    export.add_argument("checkpoint", metavar="CHECKPOINT_OR_RUN_DIR")
    export.add_argument("out", metavar="OUT.npz")
    export.add_argument("--force", action="store_true", help="replace OUT.npz if it exists (default: refuse)")


def _choose_numerics(args, argv):
    """Portable numerics unless --native-numerics (SPEC 8.2): numpy loads its libraries
    once, so where this process has loaded it otherwise, the command starts afresh."""
    if not hasattr(args, "native_numerics"):
        return  # a command that computes no number
    mode = "native" if args.native_numerics else "portable"
    if argv is None:
        numerics.reexec(mode)  # returns where a fresh start would change nothing
    elif mode != numerics.requested():
        raise ConfigError(f"--native-numerics must be chosen before numpy loads: in this process numerics are "
                          f"{numerics.requested()}; set {numerics.MODE_VARIABLE}=native before importing ppo_ref")
    numerics.announce(lambda line: print(line, file=sys.stderr))


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _choose_numerics(args, argv)
        return args.func(args)
    except UserError as err:
        parser.exit(2, f"ppo-ref: error: {err}\n")
    except OSError as err:  # a file that cannot be read or written, or a run directory already in use
        parser.exit(2, f"ppo-ref: error: {os_error_text(err)}\n")
    except MemoryError as err:  # numpy's names the size and shape it could not allocate
        parser.exit(2, f"ppo-ref: error: out of memory: {err or type(err).__name__}\n")
    except KeyboardInterrupt:  # Ctrl-C outside training, which stops at a checkpoint by itself
        print("ppo-ref: interrupted", file=sys.stderr)
        return 130


def _train(args):
    from ppo_ref.finite import NonFiniteError
    from ppo_ref.train import train

    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(Config) if hasattr(args, f.name)}
    try:
        if args.resume is not None:
            train(resume=args.resume, progress=args.progress, how=given)
        else:
            train(Config(**given), progress=args.progress)
    except NonFiniteError as err:
        print(f"ppo-ref: stopped: {err}", file=sys.stderr)
        return 1
    return 0


def _eval(args):
    from ppo_ref.evaluate import evaluate
    from ppo_ref.video import is_gif

    outputs = [p for p in (args.video, args.gif) if p is not None]
    if args.gif is not None and not is_gif(args.gif):
        raise ConfigError(f"--gif ({args.gif}) must name a .gif file")
    episodes = args.episodes if args.episodes is not None else 1 if outputs else 10
    if episodes < 1:
        raise ConfigError(f"--episodes ({episodes}) must be a positive integer")
    if not 0 <= args.seed < 2**63:
        raise ConfigError(f"--seed ({args.seed}) must be an integer in [0, 2**63)")
    mode = "deterministic" if args.deterministic else "stochastic"
    if outputs and args.actions is not None:
        raise ConfigError("--actions records the evaluation episodes; it does not go with --video or --gif")
    if outputs:
        from ppo_ref.video import record

        returns, written, backend = record(args.checkpoint, outputs, episodes, deterministic=args.deterministic,
                                           seed=args.seed, width=args.width, height=args.height,
                                           max_steps=args.max_steps, progress=args.progress)
        for path, (frames, fps) in written.items():
            print(f"wrote {path}: {frames} frames of {args.width}x{args.height} at {fps:g} fps "
                  f"(rendered with MUJOCO_GL={backend})")
        returns = np.array(returns)
    elif args.max_steps is not None:
        raise ConfigError("--max-steps cuts the episodes of a video short; it needs --video or --gif")
    elif args.actions is not None:
        from ppo_ref.evaluate import ActionRecord
        from ppo_ref.npzio import write_npz_atomic

        if os.path.exists(args.actions):
            raise ConfigError(f"--actions {args.actions} exists already; choose another file name")
        folder = os.path.dirname(args.actions) or "."
        if not os.path.isdir(folder):  # found before the episodes, not after them
            code = errno.ENOTDIR if os.path.exists(folder) else errno.ENOENT
            raise OSError(code, os.strerror(code), args.actions)
        record = ActionRecord()
        returns = evaluate(args.checkpoint, episodes, deterministic=args.deterministic, seed=args.seed,
                           record=record)
        write_npz_atomic(args.actions, record.arrays(args.deterministic, args.seed))
        print(f"wrote {args.actions}: {len(record.steps['obs'])} steps of {_episodes(len(returns))}")
    else:
        returns = evaluate(args.checkpoint, episodes, deterministic=args.deterministic, seed=args.seed)
    print(f"{_episodes(len(returns))} ({mode}): return {returns.mean():.2f} +- {returns.std():.2f}")
    return 0


def _episodes(n):
    return f"{n} episode" if n == 1 else f"{n} episodes"


def _summary(args):
    from ppo_ref.evaluate import random_policy_returns
    from ppo_ref.run.layout import load_run

    if args.last < 1:
        raise ConfigError(f"--last ({args.last}) must be a positive integer")
    config, episodes, _ = load_run(args.run_dir)
    env_id = config.env_id
    last = np.array([e["return"] for e in episodes[-args.last:]])
    rand = random_policy_returns(env_id, args.last)
    steps = int(episodes[-1]["global_step"])
    print(f"{env_id} after {steps} steps: mean return of the last {len(last)} training "
          f"{'episode' if len(last) == 1 else 'episodes'} {last.mean():.1f}")
    print(f"{env_id} random policy, mean return over {len(rand)} episodes: {rand.mean():.1f}")
    return 0


def _golden(args):
    from ppo_ref.port.golden import generate

    index = generate(args.out_dir)
    print(f"wrote {len(index['cases'])} golden cases and index.json to {args.out_dir}")
    return 0


def _check_port(args):
    from ppo_ref.port.check import DEFAULT_ATOL, DEFAULT_RTOL, listing, port_report

    if args.list:
        if args.outputs is not None or args.first or args.float32:
            raise ConfigError("--list prints what a port must write; it takes only VECTORS_DIR (and --case)")
        print(listing(args.vectors_dir, args.case))
        return 0
    if args.outputs is None:
        raise ConfigError("check-port needs OUTPUTS.npz (or --list to see what it must hold)")
    if args.float32 and (args.rtol is not None or args.atol is not None):
        raise ConfigError("--float32 sets its own tolerance; do not also pass --rtol or --atol")
    rtol = DEFAULT_RTOL if args.rtol is None else args.rtol
    atol = DEFAULT_ATOL if args.atol is None else args.atol
    report = port_report(args.vectors_dir, args.outputs, rtol=rtol, atol=atol, cases=args.case,
                         float32=args.float32, first=args.first)
    first = report.first_failure
    if args.first:
        if first is not None:
            print(f"ppo-ref: port mismatch: {first.message}", file=sys.stderr)
            return 1
    else:
        print(report.table())
        if first is not None:
            kinds = {s: sum(r.status == s for r in report.failures) for s in ("missing", "shape", "dtype")}
            detail = ", ".join(f"{n} {s}" if s == "missing" else f"{n} of the wrong {s}" for s, n in kinds.items()
                               if n)
            hint = ("; the outputs are float32: check them with --float32" if not args.float32
                    and any(r.port_dtype == "float32" for r in report.failures) else "")
            print(f"ppo-ref: port mismatch: {len(report.failures)} of {len(report.results)} tensors fail"
                  f"{f' ({detail})' if detail else ''}; look first at the earliest in the computation: "
                  f"{first.message}{hint}", file=sys.stderr)
            return 1
    print(f"port matches the golden vectors: {len(report.results)} tensors within {report.criterion}")
    return 0


def _export_torch(args):
    from ppo_ref.port.export import export_torch

    arrays = export_torch(args.checkpoint, args.out, force=args.force)
    print(f"wrote {len(arrays)} arrays (CleanRL Agent state dict and obs_rms.*) to {args.out}")
    return 0


def _run_dirs(paths):
    from ppo_ref.run.layout import find_runs

    return [run.path for run in find_runs(paths)]


def _sweep(args):
    from ppo_ref.run.sweep import parse_seeds, parse_vary, sweep

    base = {f.name: getattr(args, f.name) for f in dataclasses.fields(Config) if hasattr(args, f.name)}
    status = sweep(args.env_id, parse_seeds(args.seeds), args.out, vary=parse_vary(args.vary), base=base,
                   address=args.address, max_concurrent=args.max_concurrent, files=args.files)
    failed = {name: s for name, s in status.items() if s.startswith("failed")}
    for name, s in failed.items():
        print(f"ppo-ref: {name}: {s}", file=sys.stderr)
    return 1 if failed else 0


def _plot(args):
    from ppo_ref.run.report import plot

    for path in plot(_run_dirs(args.run_dirs), args.out):
        print(path)
    return 0


def _tensorboard(args):
    from ppo_ref.run.convert import convert

    runs = _run_dirs(args.run_dirs)
    base = os.path.commonpath([os.path.dirname(os.path.abspath(r)) for r in runs])
    for run_dir in runs:
        out = None if args.out is None else os.path.join(args.out, os.path.relpath(os.path.abspath(run_dir), base))
        print(convert(run_dir, out))
    return 0


def _report(args):
    from ppo_ref.run.report import table

    print(table(_run_dirs(args.run_dirs)))
    return 0


def _compare(args):
    from ppo_ref.run.compare import compare, parse_references
    from ppo_ref.run.compare_out import markdown, write

    if args.resamples < 100:
        raise ConfigError(f"--resamples ({args.resamples}) must be at least 100")
    if args.seed < 0:
        raise ConfigError(f"--seed ({args.seed}) must be a non-negative integer")
    comparison = compare(args.paths, args.vs, names=tuple(args.names), score=args.score,
                         references=parse_references(args.reference), seed=args.seed, resamples=args.resamples,
                         across_versions=args.across_versions)
    print(markdown(comparison), end="")
    if args.out is not None:
        for path in write(comparison, args.out):
            print(f"wrote {path}", file=sys.stderr)
    return 0
