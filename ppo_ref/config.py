"""The one training configuration: every CLI flag, its default and its help text.

Defaults are CleanRL's MuJoCo values (SPEC 7). Field names follow CleanRL's
``ppo_continuous_action.py``; the CLI turns ``num_envs`` into ``--num-envs``.
"""

import dataclasses
import math
import typing
from dataclasses import dataclass, field

from ppo_ref.errors import UserError


class ConfigError(UserError):
    """A configuration value is out of range; the message names flag, value and rule."""


def _f(default, help_text, choices=None):
    return field(default=default, metadata={"help": help_text, "choices": choices})


DTYPES = ("float64", "float32")
# Settings that choose where the numbers are computed, never which: the only ones
# a resumed run may change (``train --resume RUN_DIR --async-envs``).
HOW_TO_RUN = ("async_envs", "thread_envs", "reference_core")
# Settings that do not make runs of one env different runs: the seed, where the
# numbers are computed, where files go. Runs alike in every other setting are
# seeds of one setting (report, plot and compare group them so).
SAME_RUN = frozenset({"seed", "run_dir", "tensorboard", "checkpoint_every", *HOW_TO_RUN})
# Fields of earlier versions that chose where numbers were computed, never which:
# a saved config or sweep spec that names one still loads, without it.
RETIRED = ("update_worker",)


@dataclass
class Config:
    env_id: str = _f("Humanoid-v4", "Gymnasium environment id; needs Box observation and action spaces")
    total_timesteps: int = _f(1_000_000, "total environment steps over all envs")
    seed: int = _f(1, "the one seed every random generator is derived from (init, sampling, minibatches, envs)")
    num_envs: int = _f(1, "number of parallel environments")
    async_envs: bool = _f(False, "step the environments in subprocesses (gymnasium's AsyncVectorEnv)")
    thread_envs: bool = _f(False, "step the environments on threads of this process, up to one per core "
                                  "(MuJoCo releases the GIL while it simulates); the same numbers as the "
                                  "default sequential stepping, bit for bit")
    reference_core: bool = _f(False, "train on the reference core alone (ppo_ref/core), without the fast "
                                     "engine: the same numbers bit for bit, several times slower")
    dtype: str = _f("float64", "floating-point type of the networks, the loss, Adam, GAE and the rollout's "
                               "buffers: float64 (the reference numbers) or float32 (faster; the precision of "
                               "most ports). The observation and reward statistics stay float64",
                    choices=DTYPES)
    num_steps: int = _f(2048, "steps per environment per rollout (T)")
    learning_rate: float = _f(3e-4, "Adam learning rate (at the first iteration, when annealed)")
    anneal_lr: bool = _f(True, "anneal the learning rate linearly: lr_k = (1 - (k - 1) / K) * lr, so the "
                                    "last of K iterations uses lr / K")
    gamma: float = _f(0.99, "discount factor")
    gae_lambda: float = _f(0.95, "GAE lambda")
    num_minibatches: int = _f(32, "minibatches per epoch; must divide num_envs * num_steps")
    update_epochs: int = _f(10, "passes over each rollout")
    norm_adv: bool = _f(True, "normalise advantages per minibatch (std with ddof 1)")
    clip_coef: float = _f(0.2, "surrogate clipping coefficient epsilon (also clips the value loss)")
    clip_vloss: bool = _f(True, "use the clipped value loss")
    ent_coef: float = _f(0.0, "entropy bonus coefficient")
    vf_coef: float = _f(0.5, "value loss coefficient")
    max_grad_norm: float = _f(0.5, "global gradient-norm clipping threshold")
    target_kl: float | None = _f(None, "stop an iteration's epochs once approx_kl exceeds this (off by default)")
    bootstrap_truncation: bool = _f(True, "bootstrap time-limit truncations with V(final obs); "
                                          "off treats them as terminations, as CleanRL does")
    tensorboard: bool = _f(False, "also write TensorBoard event files into the run directory, under the tag "
                                  "names of CleanRL's ppo_continuous_action.py (needs ppo_ref[tensorboard])")
    checkpoint_every: int = _f(10, "write a checkpoint every this many iterations (and at the end)")
    run_dir: str | None = _f(None, "run directory (default runs/ENV_ID__SEED__TIMESTAMP)")

    @property
    def batch_size(self):
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self):
        return self.batch_size // self.num_minibatches

    @property
    def num_iterations(self):
        return self.total_timesteps // self.batch_size

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        """The Config a saved dict (a checkpoint's, a sweep spec's) describes; the
        fields of :data:`RETIRED` are dropped."""
        return cls(**{k: v for k, v in d.items() if k not in RETIRED})


def flag(name):
    """The command-line flag of a Config field: ``num_envs`` -> ``--num-envs``."""
    return "--" + name.replace("_", "-")


def settings_text(assignment):
    """Settings as text, ``field=value,field=value`` (booleans and None in lower
    case, as ``--vary`` takes them), or ``base`` for none."""
    return ",".join(f"{k}={str(v).lower() if isinstance(v, bool) or v is None else v}"
                    for k, v in assignment.items()) or "base"


def field_type(name):
    """A Config field's type without its None, and whether it may be None:
    ``int | None`` -> ``(int, True)``."""
    declared = Config.__dataclass_fields__[name].type
    kinds = typing.get_args(declared) or (declared,)
    return next(t for t in kinds if t is not type(None)), type(None) in kinds


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def validate(cfg):
    """Check every field; raise :class:`ConfigError` naming the first bad one."""
    def fail(name, rule):
        raise ConfigError(f"{flag(name)} ({getattr(cfg, name)!r}) {rule}")

    if not isinstance(cfg.env_id, str) or not cfg.env_id:
        fail("env_id", "must be a non-empty environment id")
    for name in ("total_timesteps", "num_envs", "num_steps", "num_minibatches", "update_epochs", "checkpoint_every"):
        v = getattr(cfg, name)
        if not _is_int(v) or v < 1:
            fail(name, "must be a positive integer")
    if not _is_int(cfg.seed) or not 0 <= cfg.seed < 2**63:
        fail("seed", "must be an integer in [0, 2**63)")
    for name in ("anneal_lr", "norm_adv", "clip_vloss", "bootstrap_truncation", "async_envs",
                 "thread_envs", "reference_core", "tensorboard"):
        if not isinstance(getattr(cfg, name), bool):
            fail(name, "must be true or false")
    if cfg.dtype not in DTYPES:
        fail("dtype", "must be one of " + ", ".join(DTYPES))
    if cfg.async_envs and cfg.thread_envs:
        raise ConfigError("--async-envs and --thread-envs exclude each other: choose subprocesses or threads")
    for name in ("learning_rate", "clip_coef", "max_grad_norm"):
        v = getattr(cfg, name)
        if not _is_real(v) or v <= 0:
            fail(name, "must be a finite number > 0")
    for name in ("ent_coef", "vf_coef"):
        v = getattr(cfg, name)
        if not _is_real(v) or v < 0:
            fail(name, "must be a finite number >= 0")
    for name in ("gamma", "gae_lambda"):
        v = getattr(cfg, name)
        if not _is_real(v) or not 0 <= v <= 1:
            fail(name, "must be in [0, 1]")
    if cfg.target_kl is not None and (not _is_real(cfg.target_kl) or cfg.target_kl <= 0):
        fail("target_kl", "must be a finite number > 0 (or left unset)")
    if cfg.batch_size % cfg.num_minibatches:
        raise ConfigError(f"--num-steps * --num-envs ({cfg.batch_size}) must be divisible by "
                          f"--num-minibatches ({cfg.num_minibatches})")
    if cfg.norm_adv and cfg.minibatch_size < 2:
        raise ConfigError(
            f"minibatch size --num-steps * --num-envs / --num-minibatches ({cfg.minibatch_size}) "
            "must be at least 2 to normalise advantages"
        )
    if cfg.total_timesteps < cfg.batch_size:
        raise ConfigError(
            f"--total-timesteps ({cfg.total_timesteps}) must be at least one rollout, "
            f"--num-steps * --num-envs ({cfg.batch_size})"
        )
    if cfg.run_dir is not None and (not isinstance(cfg.run_dir, str) or not cfg.run_dir):
        fail("run_dir", "must be a non-empty path")
    return cfg
