"""Shared fixtures for the unit tests.

Only fixtures live here; tolerances and the finite-difference helper come from
:mod:`ppo_ref.testing`, so that they are named once for the tests and for ports.
"""

import ppo_ref  # noqa: F401  (first: it pins portable numerics before numpy loads, SPEC 8.2)

import os

import numpy as np
import pytest

from ppo_ref.cli import main
from ppo_ref.port.format import load_case, read_index


@pytest.fixture
def rng():
    """A fresh seeded Generator per test, so every test is reproducible on its own."""
    return np.random.default_rng(20240531)


@pytest.fixture
def random_params():
    """Factory for an agent parameter dict with random (not initialiser-shaped)
    values, so that gradient checks see weights of every sign and size and a
    non-trivial ``log_std``. Same names and layout as ``agent.init_params``.

    ``random_params(rng, obs_dim, act_dim, hidden)`` -> dict of float64 arrays.
    """

    def make(rng, obs_dim, act_dim, hidden=(6, 5)):
        params = {}
        for prefix, out_dim in (("pi", act_dim), ("v", 1)):
            sizes = (obs_dim, *hidden, out_dim)
            for i in range(len(sizes) - 1):
                params[f"{prefix}.W{i}"] = rng.normal(0.0, 1.0 / np.sqrt(sizes[i]), (sizes[i], sizes[i + 1]))
                params[f"{prefix}.b{i}"] = rng.normal(0.0, 0.1, sizes[i + 1])
        params["log_std"] = rng.uniform(-0.5, 0.5, act_dim)
        return params

    return make


GOLDEN_DIR = os.path.join(os.path.dirname(__file__), "golden")  # the committed golden vectors, for every test


def golden_inputs(name):
    """The inputs of the committed golden case ``name``, by array name."""
    case = next(c for c in read_index(GOLDEN_DIR)["cases"] if c["name"] == name)
    arrays = load_case(GOLDEN_DIR, case)
    return {a["name"]: arrays[a["name"]] for a in case["arrays"] if a["role"] == "input"}


@pytest.fixture(scope="module")
def golden_outputs():
    """Every output of every golden case, keyed '<case>/<name>' as a port writes them."""
    out = {}
    for case in read_index(GOLDEN_DIR)["cases"]:
        arrays = load_case(GOLDEN_DIR, case)
        out.update({f"{case['name']}/{a['name']}": arrays[a["name"]] for a in case["arrays"] if a["role"] == "output"})
    return out


def cli_in_process(capsys, *args):
    """``ppo-ref ARGS`` in this process: (exit code, stdout, stderr); an error the
    CLI reports by exiting counts as that exit code."""
    try:
        code = main([*map(str, args)])
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def check_port_cli(capsys):
    """``ppo-ref check-port ARGS`` in this process, as :func:`cli_in_process`."""
    return lambda *args: cli_in_process(capsys, "check-port", *args)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A run directory of :func:`train_tiny`, trained once per test module."""
    run_dir = tmp_path_factory.mktemp("tiny") / "run"
    train_tiny(run_dir)
    return run_dir


def assert_same_state(a, b):
    """Two TrainStates alike bit for bit: parameters, Adam state, both normalisers,
    the reward scaler's returns, the observations acted on next and every generator."""
    assert list(a.params) == list(b.params)
    for k in b.params:
        np.testing.assert_array_equal(a.params[k], b.params[k], err_msg=k)
        np.testing.assert_array_equal(a.opt["m"][k], b.opt["m"][k], err_msg=f"m {k}")
        np.testing.assert_array_equal(a.opt["v"][k], b.opt["v"][k], err_msg=f"v {k}")
    assert a.opt["t"] == b.opt["t"]
    for rms_a, rms_b in ((a.obs_rms, b.obs_rms), (a.reward_scaler.rms, b.reward_scaler.rms)):
        np.testing.assert_array_equal(rms_a.mean, rms_b.mean)
        np.testing.assert_array_equal(rms_a.var, rms_b.var)
        assert rms_a.count == rms_b.count
    np.testing.assert_array_equal(a.reward_scaler.returns, b.reward_scaler.returns)
    np.testing.assert_array_equal(a.next_obs, b.next_obs)
    for name in b.rngs:
        assert a.rngs[name].bit_generator.state == b.rngs[name].bit_generator.state, name


def quiet(line):
    """``log=`` for a run whose lines no test reads."""


def train_tiny(run_dir, env_id="Hopper-v4", **config):
    """One iteration of 256 steps (4 minibatches, one epoch) into ``run_dir``: a real
    run directory, with a checkpoint, in about a second. Returns the TrainState."""
    from ppo_ref.config import Config
    from ppo_ref.train import train

    cfg = Config(env_id=env_id, total_timesteps=256, num_steps=256, num_minibatches=4, update_epochs=1,
                 run_dir=str(run_dir), **config)
    return train(cfg, progress=False, log=quiet)
