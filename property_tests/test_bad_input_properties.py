"""Bad input to the public numerical functions: NaN, inf, empty arrays, strings and
broken shapes (extra axes, a last axis one shorter or one longer), in any array
argument, raise TypeError (strings) or ValueError (the rest) whose message starts
with the argument's name as a whole word (STYLE 9) -- or, for a shape clash, the
name of one of the arguments that clash -- never a silent NaN or a traceback from
deep inside numpy.

tests/test_bad_input.py has the cases this generator does not make: scalars out of
range, flags, gradient dicts, parameters, arrays consistently empty, too few axes,
and shape clashes where the message must name one argument in particular.
"""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ppo_ref.core import distributions, gae, layers, losses, normalization
from ppo_ref.core.agent import init_params

from .strategies import SHAPE_CORRUPTIONS, VALUE_CORRUPTIONS, corrupt, corruption


def _gaussian(rng):
    return {"a": rng.normal(size=(4, 3)), "mu": rng.normal(size=(4, 3)), "log_std": rng.normal(size=3) * 0.1}


def _kl(rng):
    return {"mu_p": rng.normal(size=(4, 3)), "log_std_p": rng.normal(size=3) * 0.1,
            "mu_q": rng.normal(size=(4, 3)), "log_std_q": rng.normal(size=3) * 0.1}


def _gae(rng):
    return {"rewards": rng.normal(size=(6, 2)), "values": rng.normal(size=(6, 2)),
            "next_values": rng.normal(size=(6, 2))}


def _ppo_loss(rng):
    return {"obs": rng.normal(size=(8, 5)), "actions": rng.normal(size=(8, 3)),
            "logprobs_old": rng.normal(size=8) - 4.0, "advantages": rng.normal(size=8),
            "returns": rng.normal(size=8), "values_old": rng.normal(size=8)}


def _linear(rng):
    return {"x": rng.normal(size=(4, 3)), "W": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}


PARAMS = init_params(np.random.default_rng(0), 5, 3)

# name -> (valid float arrays, call, {argument: arguments a shape clash may be reported under})
TARGETS = {
    "log_prob": (_gaussian, lambda x: distributions.log_prob(**x),
                 {"a": {"a", "mu"}, "mu": {"a", "mu", "log_std"}, "log_std": {"mu", "log_std"}}),
    "kl": (_kl, lambda x: distributions.kl(**x),
           {"mu_p": {"mu_p", "mu_q", "log_std_p"}, "log_std_p": {"mu_p", "log_std_p"},
            "mu_q": {"mu_p", "mu_q", "log_std_q"}, "log_std_q": {"mu_q", "log_std_q"}}),
    "entropy": (lambda rng: {"log_std": rng.normal(size=3)}, lambda x: distributions.entropy(**x),
                {"log_std": {"log_std"}}),
    "sample": (lambda rng: {"mu": rng.normal(size=(4, 3)), "log_std": rng.normal(size=3) * 0.1},
               lambda x: distributions.sample(np.random.default_rng(0), **x),
               {"mu": {"mu", "log_std"}, "log_std": {"mu", "log_std"}}),
    "gae": (_gae, lambda x: gae.gae(**x, terminated=np.zeros((6, 2), bool), truncated=np.zeros((6, 2), bool),
                                     gamma=0.99, gae_lambda=0.95),
            {k: {"rewards", "values", "next_values"} for k in ("rewards", "values", "next_values")}),
    "ppo_loss": (_ppo_loss, lambda x: losses.ppo_loss(PARAMS, **x),
                 {k: {"obs", "actions", "logprobs_old", "advantages", "returns", "values_old"}
                  for k in ("obs", "actions", "logprobs_old", "advantages", "returns", "values_old")}),
    "rms_update": (lambda rng: {"x": rng.normal(size=(5, 3))},
                   lambda x: normalization.rms_update(normalization.rms_init((3,)), **x), {"x": {"x"}}),
    "scale_reward": (lambda rng: {"rewards": rng.normal(size=2)},
                     lambda x: normalization.scale_reward(normalization.reward_scaler_init(2), **x,
                                                          dones=np.zeros(2, bool), gamma=0.99),
                     {"rewards": {"rewards"}}),
    "linear_forward": (_linear, lambda x: layers.linear_forward(**x),
                       {"x": {"x", "W"}, "W": {"x", "W", "b"}, "b": {"W", "b"}}),
}

SHAPE_KINDS = {
    "entropy": ("extra_axes",),  # a log_std of any length is valid: only extra axes clash
    "sample": ("shorter", "longer"),  # mu may have any leading axes, so extra ones are valid
}
"""Shape corruptions that make a call invalid, where not all of SHAPE_CORRUPTIONS do."""


@pytest.mark.parametrize("target", sorted(TARGETS))
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_corrupted_argument_is_refused_by_name(target, data, seed):
    make, call, partners = TARGETS[target]
    args = make(np.random.default_rng(seed))
    call(dict(args))  # valid as drawn: what fails below is the corruption
    name = data.draw(st.sampled_from(sorted(args)), label="argument")
    kinds = VALUE_CORRUPTIONS + SHAPE_KINDS.get(target, SHAPE_CORRUPTIONS)
    kind, position = data.draw(corruption(kinds), label="corruption")
    args[name] = corrupt(args[name], kind, position)
    expected = TypeError if kind == "strings" else ValueError
    with pytest.raises(expected) as err:
        call(args)
    message = str(err.value)
    names = {name} if kind in VALUE_CORRUPTIONS else partners[name]
    starts_with_a_name = r"^(" + "|".join(re.escape(n) for n in sorted(names)) + r")(?!\w)"
    assert re.match(starts_with_a_name, message), f"{kind} in {name!r}: message {message!r} starts with none of {names}"
