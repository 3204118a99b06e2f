"""The parameter members a checkpoint holds follow the agent's parameter names, for
any number and width of hidden layers (core/agent.py's init_params is the oracle)."""

import pytest

from ppo_ref.core.agent import init_params, param_names
from ppo_ref.run import checkpoint as ckpt


def bound(shapes, sizes):
    return {name: tuple(sizes.get(d, d) for d in shape) for name, shape in shapes.items()}


def test_the_members_are_the_default_agents_parameters_in_its_order(rng):
    params = init_params(rng, 11, 3)
    assert list(ckpt._PARAMS) == param_names(params)
    assert bound(ckpt._PARAMS, {"D": 11, "A": 3, "H": 64}) == {k: v.shape for k, v in params.items()}


@pytest.mark.parametrize("hidden", [(5, 6, 7), (8,), (4, 4, 4, 4)])
def test_the_shapes_follow_any_hidden_layers(rng, monkeypatch, hidden):
    dims = [f"X{i}" for i in range(len(hidden))]  # a dimension per hidden layer
    monkeypatch.setattr(ckpt, "_HIDDEN", dims)
    params = init_params(rng, 11, 3, hidden=hidden)
    shapes = ckpt._param_shapes()
    assert list(shapes) == param_names(params)
    assert bound(shapes, {"D": 11, "A": 3, **dict(zip(dims, hidden))}) == {k: v.shape for k, v in params.items()}
