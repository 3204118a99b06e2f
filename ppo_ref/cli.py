"""Command line: ``ppo-ref train`` and ``ppo-ref eval``.

The train flags are generated from :class:`ppo_ref.config.Config`, the one source
of names, defaults and help text. Errors the user can fix are printed as one line
(``ppo-ref: error: ...``) with exit code 2.
"""

import argparse
import dataclasses
import sys
import typing

from . import __version__
from .checkpoint import CheckpointError
from .config import Config, ConfigError
from .envs import EnvError


def _flag(name):
    return "--" + name.replace("_", "-")


def _add_config_flags(parser):
    for f in dataclasses.fields(Config):
        help_text = f"{f.metadata['help']} (default: {f.default})"
        kw = {"default": argparse.SUPPRESS, "help": help_text, "dest": f.name}
        kind = typing.get_args(f.type) or (f.type,)
        if bool in kind:
            parser.add_argument(_flag(f.name), action=argparse.BooleanOptionalAction, **kw)
        else:
            base = next(t for t in kind if t is not type(None))
            parser.add_argument(_flag(f.name), type=base, metavar=f.name.upper(), **kw)


def build_parser():
    parser = argparse.ArgumentParser(prog="ppo-ref", description="PPO for continuous control in pure numpy.")
    parser.add_argument("--version", action="version", version=f"ppo_ref {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train PPO (defaults: CleanRL's MuJoCo settings on Humanoid-v4)",
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_config_flags(train)
    train.add_argument("--resume", metavar="RUN_DIR", default=None,
                       help="continue the run in RUN_DIR (or from a checkpoint file) with its saved config")
    train.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="show a progress bar (default: when stderr is a terminal)")

    ev = sub.add_parser("eval", help="evaluate a checkpoint with frozen normaliser statistics")
    ev.add_argument("checkpoint", metavar="CHECKPOINT_OR_RUN_DIR")
    ev.add_argument("--episodes", type=int, default=10, help="number of episodes (default: 10)")
    ev.add_argument("--deterministic", action="store_true", help="act with the mean action instead of sampling")
    ev.add_argument("--seed", type=int, default=0, help="seed of the evaluation episodes and action noise (default: 0)")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            return _train(args)
        return _eval(args)
    except (ConfigError, EnvError, CheckpointError, FileExistsError) as err:
        parser.exit(2, f"ppo-ref: error: {err}\n")


def _train(args):
    from .train import NonFiniteError, train

    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(Config) if hasattr(args, f.name)}
    if args.resume is not None and given:
        flags = ", ".join(_flag(k) for k in given)
        raise ConfigError(f"--resume continues a run with its saved config; do not also pass {flags}")
    try:
        if args.resume is not None:
            train(resume=args.resume, progress=args.progress)
        else:
            train(Config(**given), progress=args.progress)
    except NonFiniteError as err:
        print(f"ppo-ref: stopped: {err}", file=sys.stderr)
        return 1
    return 0


def _eval(args):
    from .evaluate import evaluate

    if args.episodes < 1:
        raise ConfigError(f"--episodes ({args.episodes}) must be a positive integer")
    returns = evaluate(args.checkpoint, args.episodes, deterministic=args.deterministic, seed=args.seed)
    mode = "deterministic" if args.deterministic else "stochastic"
    print(f"{len(returns)} episodes ({mode}): return {returns.mean():.2f} +- {returns.std():.2f}")
    return 0
