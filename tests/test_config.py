"""Every training flag is validated before anything starts, with one message
naming the flag, the value and what is allowed."""

import dataclasses

import pytest

from ppo_ref.config import Config, ConfigError, validate

BAD_VALUES = {
    "env_id": ["", 3],
    "total_timesteps": [0, -5, 2.5, True],
    "seed": [-1, 1.5, "1"],
    "num_envs": [0, 1.0],
    "async_envs": [1, "yes"],
    "thread_envs": [0, "no"],
    "reference_core": [1, "yes"],
    "dtype": ["float16", "f4", None],
    "num_steps": [0, -1],
    "learning_rate": [0.0, -3e-4, float("nan"), float("inf"), "fast"],
    "anneal_lr": [0, None],
    "gamma": [-0.1, 1.01, float("nan")],
    "gae_lambda": [-0.5, 2.0],
    "num_minibatches": [0, 3.0],
    "update_epochs": [0, -2],
    "norm_adv": ["true"],
    "clip_coef": [0.0, -0.2],
    "clip_vloss": [1],
    "ent_coef": [-0.01, float("inf")],
    "vf_coef": [-1.0],
    "max_grad_norm": [0.0, -0.5],
    "target_kl": [0.0, -0.01, float("nan")],
    "bootstrap_truncation": ["no"],
    "tensorboard": [1, "yes"],
    "checkpoint_every": [0, 1.5],
    "run_dir": ["", 5],
}


def test_every_field_has_bad_values_listed():
    assert set(BAD_VALUES) == {f.name for f in dataclasses.fields(Config)}


@pytest.mark.parametrize("name, value", [(k, v) for k, vs in BAD_VALUES.items() for v in vs])
def test_bad_value_is_refused_naming_the_flag(name, value):
    cfg = Config(**{name: value})
    flag = "--" + name.replace("_", "-")
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    message = str(err.value)
    assert message.startswith(flag), message
    assert repr(value) in message or str(value) in message, message
    assert "\n" not in message


def test_defaults_are_valid_and_match_the_reference():
    cfg = validate(Config())
    assert (cfg.total_timesteps, cfg.learning_rate, cfg.num_envs, cfg.num_steps) == (1_000_000, 3e-4, 1, 2048)
    assert (cfg.gamma, cfg.gae_lambda, cfg.num_minibatches, cfg.update_epochs) == (0.99, 0.95, 32, 10)
    assert (cfg.clip_coef, cfg.ent_coef, cfg.vf_coef, cfg.max_grad_norm) == (0.2, 0.0, 0.5, 0.5)
    assert cfg.anneal_lr and cfg.norm_adv and cfg.clip_vloss and cfg.bootstrap_truncation
    assert cfg.target_kl is None and cfg.dtype == "float64"
    assert (cfg.batch_size, cfg.minibatch_size, cfg.num_iterations) == (2048, 64, 488)


@pytest.mark.parametrize("kw, fragment", [
    (dict(num_steps=2000), "--num-steps * --num-envs (2000) must be divisible by --num-minibatches (32)"),
    (dict(num_steps=32, num_minibatches=32), "must be at least 2"),
    (dict(total_timesteps=1000), "--total-timesteps (1000) must be at least one rollout"),
])
def test_derived_constraints(kw, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("*", r"\*").replace("(", r"\(").replace(")", r"\)")):
        validate(Config(**kw))


def test_subprocess_and_thread_envs_exclude_each_other():
    with pytest.raises(ConfigError, match="--async-envs and --thread-envs exclude each other"):
        validate(Config(async_envs=True, thread_envs=True))
