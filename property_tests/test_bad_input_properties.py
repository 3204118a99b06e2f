"""Bad input to the public numerical functions: NaN, inf, empty arrays, strings and
broken shapes, in any argument, raise ValueError or TypeError with a message
naming the argument (or, for a shape clash, one of the two arguments that clash),
never a silent NaN or a traceback from deep inside numpy."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ppo_ref.core import distributions, gae, losses, normalization
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


PARAMS = init_params(np.random.default_rng(0), 5, 3)

# name -> (valid float arrays, call, {argument: arguments a shape clash may be reported under})
TARGETS = {
    "log_prob": (_gaussian, lambda x: distributions.log_prob(**x),
                 {"a": {"a", "mu"}, "mu": {"a", "mu", "log_std"}, "log_std": {"mu", "log_std"}}),
    "kl": (_kl, lambda x: distributions.kl(**x),
           {"mu_p": {"mu_p", "mu_q", "log_std_p"}, "log_std_p": {"mu_p", "log_std_p"},
            "mu_q": {"mu_p", "mu_q", "log_std_q"}, "log_std_q": {"mu_q", "log_std_q"}}),
    "entropy": (lambda rng: {"log_std": rng.normal(size=3)}, lambda x: distributions.entropy(**x),
                {"log_std": {"log_std"}}),  # any length is valid: only extra axes clash
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
}


@pytest.mark.parametrize("target", sorted(TARGETS))
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_corrupted_argument_is_refused_by_name(target, data, seed):
    make, call, partners = TARGETS[target]
    args = make(np.random.default_rng(seed))
    name = data.draw(st.sampled_from(sorted(args)), label="argument")
    kinds = VALUE_CORRUPTIONS + (("extra_axes",) if target == "entropy" else SHAPE_CORRUPTIONS)
    kind, position = data.draw(corruption(kinds), label="corruption")
    args[name] = corrupt(args[name], kind, position)
    with pytest.raises((ValueError, TypeError)) as err:
        call(args)
    message = str(err.value)
    names = {name} if kind in VALUE_CORRUPTIONS else partners[name]
    assert any(n in message for n in names), f"{kind} in {name!r}: message {message!r} names none of {names}"
