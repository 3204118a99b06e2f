"""Bad input to the public numerical functions raises ValueError or TypeError whose
message starts with the offending argument's name as a whole word (STYLE 9),
instead of a traceback from deep inside numpy or a silent NaN.

Each case starts from a valid call and breaks one argument (or makes the arrays
consistently empty). Only the cases property_tests/test_bad_input_properties.py
does not generate are here: scalars out of range or of the wrong type (gamma,
gae_lambda, coefficients, lr, max_norm, iteration numbers), flags, gradient
dicts, parameter dicts, arrays consistently empty or with too few axes, and shape
clashes whose message must name one argument in particular. NaN, inf, empty
arrays, strings and broken shapes in each array argument of log_prob, kl,
entropy, sample, gae, ppo_loss, rms_update, scale_reward and linear_forward are
generated there.
"""

import re

import numpy as np
import pytest

from ppo_ref.core import agent, checks, distributions, gae, layers, losses, mlp, normalization, optim
from ppo_ref.core.agent import init_params

NAN, INF = float("nan"), float("inf")


def _with(arr, index, value):
    """A float copy of ``arr`` with one element replaced."""
    out = np.array(arr, dtype=np.float64)
    out[index] = value
    return out


def _strings(shape):
    return np.full(shape, "x")


# ------------------------------------------------------------------ valid inputs

MU, LOG_STD, ACT = np.zeros((4, 2)), np.zeros(2), np.ones((4, 2))


def _log_prob(a=ACT, mu=MU, log_std=LOG_STD):
    return distributions.log_prob(a, mu, log_std)


def _kl(mu_p=MU, log_std_p=LOG_STD, mu_q=MU, log_std_q=LOG_STD):
    return distributions.kl(mu_p, log_std_p, mu_q, log_std_q)


def _sample(mu=MU, log_std=LOG_STD):
    return distributions.sample(np.random.default_rng(0), mu, log_std)


T_N = (5, 2)
NO_END = np.zeros(T_N, dtype=bool)


def _gae(rewards=np.ones(T_N), values=np.zeros(T_N), next_values=np.zeros(T_N), terminated=NO_END,
         truncated=NO_END, gamma=0.99, gae_lambda=0.95):
    return gae.gae(rewards, values, next_values, terminated, truncated, gamma, gae_lambda)


M, D, A = 6, 3, 2
PARAMS = init_params(np.random.default_rng(0), D, A, hidden=(4, 4))


def _ppo_loss(params=PARAMS, obs=np.zeros((M, D)), actions=np.zeros((M, A)), logprobs_old=np.zeros(M),
              advantages=np.arange(M, dtype=float), returns=np.zeros(M), values_old=np.zeros(M), **kwargs):
    return losses.ppo_loss(params, obs, actions, logprobs_old, advantages, returns, values_old, **kwargs)


def _with_param(name, value):
    params = {k: v.copy() for k, v in PARAMS.items()}
    params[name] = value
    return params


def _rms_update(x=np.zeros((5, 3)), shape=(3,)):
    return normalization.rms_update(normalization.rms_init(shape), x)


def _scale_reward(rewards=np.ones(2), dones=np.zeros(2, dtype=bool), gamma=0.99):
    return normalization.scale_reward(normalization.reward_scaler_init(2), rewards, dones, gamma)


def _adam_step(grads=None, lr=1e-3):
    params = {"w": np.zeros(3), "b": np.zeros(2)}
    state = optim.adam_init(params)
    return optim.adam_step(params, {"w": np.ones(3), "b": np.ones(2)} if grads is None else grads, state, lr)


def _clip_grad_norm(grads=None, max_norm=0.5):
    return optim.clip_grad_norm({"w": np.ones(3), "b": np.ones(2)} if grads is None else grads, max_norm)


def _linear_forward(x=np.zeros((4, 3)), W=np.zeros((3, 2)), b=np.zeros(2)):
    return layers.linear_forward(x, W, b)


def test_the_valid_calls_succeed():
    """Every case below breaks one argument of one of these calls."""
    for call in (_log_prob, _kl, _sample, _gae, _ppo_loss, _rms_update, _scale_reward, _adam_step,
                 _clip_grad_norm, _linear_forward):
        call()
    assert optim.linear_lr(1, 10, 3e-4) == 3e-4


# ------------------------------------------------------------------ bad inputs
# (id, call, exception, argument the message must start with)

CASES = [
    # distributions.log_prob
    ("log_prob a shape", lambda: _log_prob(a=np.ones((4, 3))), ValueError, "a"),
    ("log_prob mu vs log_std", lambda: _log_prob(mu=np.zeros((4, 3))), ValueError, "mu"),
    ("log_prob log_std ndim", lambda: _log_prob(log_std=np.zeros((1, 2))), ValueError, "log_std"),
    ("log_prob mu ndim 0", lambda: _log_prob(mu=np.float64(0.0)), ValueError, "mu"),
    ("log_prob empty", lambda: _log_prob(a=np.zeros((0, 2)), mu=np.zeros((0, 2))), ValueError, "mu"),
    ("log_prob empty log_std", lambda: _log_prob(a=np.zeros((4, 0)), mu=np.zeros((4, 0)), log_std=np.zeros(0)),
     ValueError, "mu"),
    # distributions.kl
    ("kl mu_p vs mu_q", lambda: _kl(mu_q=np.zeros((5, 2))), ValueError, "mu_p"),
    ("kl mu_q vs log_std_q", lambda: _kl(log_std_q=np.zeros(3)), ValueError, "mu_q"),
    ("kl log_std_p ndim", lambda: _kl(log_std_p=np.float64(0.0)), ValueError, "log_std_p"),
    ("kl empty", lambda: _kl(mu_p=np.zeros((0, 2)), mu_q=np.zeros((0, 2))), ValueError, "mu_p"),
    # distributions.sample
    ("sample mu vs log_std", lambda: _sample(log_std=np.zeros(3)), ValueError, "mu"),
    ("sample log_std ndim", lambda: _sample(log_std=np.zeros((2, 1))), ValueError, "log_std"),
    # gae.gae
    ("gae values shape", lambda: _gae(values=np.zeros((5, 3))), ValueError, "values"),
    ("gae next_values shape", lambda: _gae(next_values=np.zeros(5)), ValueError, "next_values"),
    ("gae terminated shape", lambda: _gae(terminated=np.zeros((4, 2), dtype=bool)), ValueError, "terminated"),
    ("gae truncated shape", lambda: _gae(truncated=np.zeros((5, 1), dtype=bool)), ValueError, "truncated"),
    ("gae rewards ndim", lambda: _gae(rewards=np.ones((5, 2, 1))), ValueError, "rewards"),
    ("gae gamma negative", lambda: _gae(gamma=-0.1), ValueError, "gamma"),
    ("gae gamma above one", lambda: _gae(gamma=1.01), ValueError, "gamma"),
    ("gae gamma nan", lambda: _gae(gamma=NAN), ValueError, "gamma"),
    ("gae gae_lambda negative", lambda: _gae(gae_lambda=-0.01), ValueError, "gae_lambda"),
    ("gae gae_lambda above one", lambda: _gae(gae_lambda=1.5), ValueError, "gae_lambda"),
    ("gae gae_lambda string", lambda: _gae(gae_lambda="0.95"), TypeError, "gae_lambda"),
    ("gae empty", lambda: _gae(*(np.zeros((0, 2)),) * 3, np.zeros((0, 2), bool), np.zeros((0, 2), bool)),
     ValueError, "rewards"),
    ("gae terminated not boolean", lambda: _gae(terminated=np.full(T_N, 0.5)), TypeError, "terminated"),
    ("gae truncated strings", lambda: _gae(truncated=_strings(T_N)), TypeError, "truncated"),
    # losses.ppo_loss
    ("ppo_loss obs ndim", lambda: _ppo_loss(obs=np.zeros(M)), ValueError, "obs"),
    ("ppo_loss obs vs params", lambda: _ppo_loss(obs=np.zeros((M, D + 1))), ValueError, "obs"),
    ("ppo_loss actions rows", lambda: _ppo_loss(actions=np.zeros((M - 1, A))), ValueError, "actions"),
    ("ppo_loss actions ndim 1", lambda: _ppo_loss(actions=np.zeros(M)), ValueError, "actions"),
    ("ppo_loss actions ndim 3", lambda: _ppo_loss(actions=np.zeros((M, A, 1))), ValueError, "actions"),
    ("ppo_loss logprobs_old ndim 0", lambda: _ppo_loss(logprobs_old=np.float64(0.0)), ValueError, "logprobs_old"),
    ("ppo_loss logprobs_old ndim 2", lambda: _ppo_loss(logprobs_old=np.zeros((M, 1))), ValueError, "logprobs_old"),
    ("ppo_loss actions dims", lambda: _ppo_loss(actions=np.zeros((M, 1))), ValueError, "actions"),
    ("ppo_loss logprobs_old shape", lambda: _ppo_loss(logprobs_old=np.zeros(M + 1)), ValueError, "logprobs_old"),
    ("ppo_loss advantages shape", lambda: _ppo_loss(advantages=np.zeros((M, 1))), ValueError, "advantages"),
    ("ppo_loss returns shape", lambda: _ppo_loss(returns=np.zeros(M - 1)), ValueError, "returns"),
    ("ppo_loss values_old shape", lambda: _ppo_loss(values_old=np.zeros(M + 2)), ValueError, "values_old"),
    ("ppo_loss param nan", lambda: _ppo_loss(params=_with_param("pi.W1", _with(PARAMS["pi.W1"], (0, 0), NAN))),
     ValueError, "params['pi.W1']"),
    ("ppo_loss log_std vs policy output", lambda: _ppo_loss(params=_with_param("log_std", np.zeros(A + 1)),
                                                            actions=np.zeros((M, A + 1))),
     ValueError, "params['log_std']"),
    ("ppo_loss clip_coef zero", lambda: _ppo_loss(clip_coef=0.0), ValueError, "clip_coef"),
    ("ppo_loss ent_coef negative", lambda: _ppo_loss(ent_coef=-0.01), ValueError, "ent_coef"),
    ("ppo_loss vf_coef nan", lambda: _ppo_loss(vf_coef=NAN), ValueError, "vf_coef"),
    ("ppo_loss vf_coef negative", lambda: _ppo_loss(vf_coef=-0.5), ValueError, "vf_coef"),
    ("ppo_loss norm_adv needs two", lambda: _ppo_loss(obs=np.zeros((1, D)), actions=np.zeros((1, A)),
                                                      logprobs_old=np.zeros(1), advantages=np.zeros(1),
                                                      returns=np.zeros(1), values_old=np.zeros(1)),
     ValueError, "norm_adv"),
    # normalization.rms_update
    ("rms_update x ndim", lambda: _rms_update(x=np.zeros(3)), ValueError, "x"),
    ("rms_update x ndim scalar stats", lambda: _rms_update(x=np.float64(1.0), shape=()), ValueError, "x"),
    # normalization.scale_reward
    ("scale_reward dones shape", lambda: _scale_reward(dones=np.zeros(3, dtype=bool)), ValueError, "dones"),
    ("scale_reward gamma negative", lambda: _scale_reward(gamma=-0.5), ValueError, "gamma"),
    ("scale_reward gamma above one", lambda: _scale_reward(gamma=2.0), ValueError, "gamma"),
    ("scale_reward dones strings", lambda: _scale_reward(dones=_strings(2)), TypeError, "dones"),
    # optim.adam_step
    ("adam_step grads names", lambda: _adam_step(grads={"w": np.ones(3)}), ValueError, "grads"),
    ("adam_step grads shape", lambda: _adam_step(grads={"w": np.ones(1), "b": np.ones(2)}), ValueError, "grads"),
    ("adam_step grads nan", lambda: _adam_step(grads={"w": _with(np.ones(3), 1, NAN), "b": np.ones(2)}),
     ValueError, "grads"),
    ("adam_step grads inf", lambda: _adam_step(grads={"w": np.ones(3), "b": _with(np.ones(2), 0, INF)}),
     ValueError, "grads"),
    ("adam_step grads strings", lambda: _adam_step(grads={"w": _strings(3), "b": np.ones(2)}), TypeError, "grads"),
    ("adam_step lr negative", lambda: _adam_step(lr=-1e-3), ValueError, "lr"),
    ("adam_step lr nan", lambda: _adam_step(lr=NAN), ValueError, "lr"),
    ("adam_step lr string", lambda: _adam_step(lr="3e-4"), TypeError, "lr"),
    # optim.clip_grad_norm
    ("clip_grad_norm grads nan", lambda: _clip_grad_norm(grads={"w": _with(np.ones(3), 2, NAN)}), ValueError,
     "grads"),
    ("clip_grad_norm grads inf", lambda: _clip_grad_norm(grads={"w": _with(np.ones(3), 0, -INF)}), ValueError,
     "grads"),
    ("clip_grad_norm grads strings", lambda: _clip_grad_norm(grads={"w": _strings(3)}), TypeError, "grads"),
    ("clip_grad_norm empty", lambda: _clip_grad_norm(grads={}), ValueError, "grads"),
    ("clip_grad_norm norm overflows", lambda: _clip_grad_norm(grads={"w": np.full(3, 1e200)}), ValueError, "grads"),
    ("clip_grad_norm max_norm zero", lambda: _clip_grad_norm(max_norm=0.0), ValueError, "max_norm"),
    ("clip_grad_norm max_norm negative", lambda: _clip_grad_norm(max_norm=-1.0), ValueError, "max_norm"),
    ("clip_grad_norm max_norm string", lambda: _clip_grad_norm(max_norm="0.5"), TypeError, "max_norm"),
    # optim.linear_lr
    ("linear_lr iteration zero", lambda: optim.linear_lr(0, 10, 3e-4), ValueError, "iteration"),
    ("linear_lr iteration past end", lambda: optim.linear_lr(11, 10, 3e-4), ValueError, "iteration"),
    ("linear_lr iteration not integer", lambda: optim.linear_lr(1.5, 10, 3e-4), TypeError, "iteration"),
    ("linear_lr iteration string", lambda: optim.linear_lr("1", 10, 3e-4), TypeError, "iteration"),
    ("linear_lr num_iterations zero", lambda: optim.linear_lr(1, 0, 3e-4), ValueError, "num_iterations"),
    ("linear_lr lr0 negative", lambda: optim.linear_lr(1, 10, -3e-4), ValueError, "lr0"),
    ("linear_lr lr0 nan", lambda: optim.linear_lr(1, 10, NAN), ValueError, "lr0"),
    # layers.linear_forward
    ("linear_forward x ndim", lambda: _linear_forward(x=np.zeros(3)), ValueError, "x"),
    ("linear_forward W ndim", lambda: _linear_forward(W=np.zeros(3)), ValueError, "W"),
    ("linear_forward x vs W", lambda: _linear_forward(x=np.zeros((4, 5))), ValueError, "x"),
    ("linear_forward b shape", lambda: _linear_forward(b=np.zeros(3)), ValueError, "b"),
    ("linear_forward b ndim 0", lambda: _linear_forward(b=np.float64(0.0)), ValueError, "b"),
    ("linear_forward b ndim 2", lambda: _linear_forward(x=np.zeros((2, 3)), b=np.zeros((2, 1))), ValueError, "b"),
    # mlp.mlp_forward, agent.policy_mean and agent.value
    ("mlp_forward x ndim", lambda: mlp.mlp_forward(PARAMS, "pi", np.zeros(D)), ValueError, "x"),
    ("mlp_forward x width", lambda: mlp.mlp_forward(PARAMS, "pi", np.zeros((M, D + 1))), ValueError,
     "params['pi.W0']"),
    ("mlp_forward x nan", lambda: mlp.mlp_forward(PARAMS, "v", _with(np.zeros((M, D)), (1, 2), NAN)), ValueError, "x"),
    ("mlp_forward no such layer", lambda: mlp.mlp_forward(PARAMS, "pi", np.zeros((M, 4)), start=5), ValueError,
     "params"),
    ("mlp_forward layer widths", lambda: mlp.mlp_forward(_with_param("pi.W1", np.zeros((3, 4))), "pi",
                                                         np.zeros((M, D))), ValueError, "params['pi.W1']"),
    ("mlp_forward bias width", lambda: mlp.mlp_forward(_with_param("v.b1", np.zeros(5)), "v", np.zeros((M, D))),
     ValueError, "params['v.b1']"),
    ("mlp_forward weight ndim", lambda: mlp.mlp_forward(_with_param("v.W2", np.zeros(4)), "v", np.zeros((M, D))),
     ValueError, "params['v.W2']"),
    ("policy_mean obs width", lambda: agent.policy_mean(PARAMS, np.zeros((M, D + 2))), ValueError,
     "params['pi.W0']"),
    ("policy_mean obs ndim", lambda: agent.policy_mean(PARAMS, np.zeros(D)), ValueError, "x"),
    ("value obs nan", lambda: agent.value(PARAMS, _with(np.zeros((M, D)), (0, 0), INF)), ValueError, "x"),
    # normalization.normalize_obs
    ("normalize_obs shape", lambda: normalization.normalize_obs(np.zeros((4, 2)), normalization.rms_init((3,))),
     ValueError, "obs"),
    ("normalize_obs ndim", lambda: normalization.normalize_obs(np.float64(1.0), normalization.rms_init((3,))),
     ValueError, "obs"),
    ("normalize_obs nan", lambda: normalization.normalize_obs(_with(np.zeros((2, 3)), (1, 1), NAN),
                                                              normalization.rms_init((3,))), ValueError, "obs"),
]


@pytest.mark.parametrize("call, exc, name", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_naming_the_argument(call, exc, name):
    with pytest.raises(exc, match=r"^" + re.escape(name) + r"(?!\w)"):
        call()


# Shape clashes between two arguments: the message starts with the argument found
# wrong and names, after "of" or "but", the one it was held against.
# (id, call, argument the message starts with, argument it is compared with)
CLASHES = [
    ("log_prob a vs mu", lambda: _log_prob(a=np.ones((4, 3))), "a", "mu"),
    ("log_prob mu vs log_std", lambda: _log_prob(mu=np.zeros((4, 3)), a=np.zeros((4, 3))), "mu", "log_std"),
    ("sample mu vs log_std", lambda: _sample(log_std=np.zeros(3)), "mu", "log_std"),
    ("kl mu_p vs mu_q", lambda: _kl(mu_q=np.zeros((5, 2))), "mu_p", "mu_q"),
    ("kl mu_p vs log_std_p", lambda: _kl(log_std_p=np.zeros(3)), "mu_p", "log_std_p"),
    ("kl mu_q vs log_std_q", lambda: _kl(log_std_q=np.zeros(3)), "mu_q", "log_std_q"),
    ("gae values vs rewards", lambda: _gae(values=np.zeros((5, 3))), "values", "rewards"),
    ("gae next_values vs rewards", lambda: _gae(next_values=np.zeros(5)), "next_values", "rewards"),
    ("ppo_loss actions vs obs", lambda: _ppo_loss(actions=np.zeros((M - 1, A))), "actions", "obs"),
    ("ppo_loss logprobs_old vs obs", lambda: _ppo_loss(logprobs_old=np.zeros(M + 1)), "logprobs_old", "obs"),
    ("ppo_loss advantages vs logprobs_old", lambda: _ppo_loss(advantages=np.zeros(M - 1)), "advantages",
     "logprobs_old"),
    ("ppo_loss returns vs logprobs_old", lambda: _ppo_loss(returns=np.zeros(M - 1)), "returns", "logprobs_old"),
    ("ppo_loss values_old vs logprobs_old", lambda: _ppo_loss(values_old=np.zeros(M + 2)), "values_old",
     "logprobs_old"),
    ("ppo_loss obs vs pi.W0", lambda: _ppo_loss(obs=np.zeros((M, D + 1))), "obs", "params['pi.W0']"),
    ("ppo_loss obs vs v.W0", lambda: _ppo_loss(params=_with_param("v.W0", np.zeros((D + 1, 4)))), "obs",
     "params['v.W0']"),
    ("ppo_loss actions vs log_std", lambda: _ppo_loss(actions=np.zeros((M, 1))), "actions", "params['log_std']"),
    ("ppo_loss log_std vs policy output", lambda: _ppo_loss(params=_with_param("log_std", np.zeros(A + 1)),
                                                            actions=np.zeros((M, A + 1))),
     "params['log_std']", "params['pi.W2']"),
    ("scale_reward rewards vs returns", lambda: _scale_reward(rewards=np.ones(3), dones=np.zeros(3, dtype=bool)),
     "rewards", "the per-env returns"),
    ("linear_forward x vs W", lambda: _linear_forward(x=np.zeros((4, 5))), "x", "W"),
    ("linear_forward b vs W", lambda: _linear_forward(b=np.zeros(3)), "b", "W"),
]


@pytest.mark.parametrize("call, name, other", [c[1:] for c in CLASHES], ids=[c[0] for c in CLASHES])
def test_shape_clash_names_both_arguments(call, name, other):
    with pytest.raises(ValueError, match=r"^" + re.escape(name) + r"(?!\w)") as err:
        call()
    assert re.search(r"(?:of|but) " + re.escape(other) + r" ", str(err.value)), str(err.value)


# Messages in full: the allowed range, an open end written -inf or inf; the size found.
RANGE_MESSAGES = [
    (lambda: optim.linear_lr(1, 0, 3e-4), "num_iterations must be in [1, inf], got 0"),
    (lambda: optim.linear_lr(11, 10, 3e-4), "iteration must be in [1, 10], got 11"),
    (lambda: checks.int_in_range("n", 5, None, 3), "n must be in [-inf, 3], got 5"),
    (lambda: _gae(gamma=1.5), "gamma must be in [0.0, 1.0], got 1.5"),
    (lambda: _clip_grad_norm(max_norm=0.0), "max_norm must be in (0.0, inf], got 0.0"),
    (lambda: checks.real_in_range("x", 2.0, None, 1.0), "x must be in [-inf, 1.0], got 2.0"),
    (lambda: _gae(rewards=np.ones((5, 2, 1))), "rewards must have ndim 1 or 2, got shape (5, 2, 1)"),
    (lambda: _ppo_loss(obs=np.zeros((1, D)), actions=np.zeros((1, A)), logprobs_old=np.zeros(1),
                       advantages=np.zeros(1), returns=np.zeros(1), values_old=np.zeros(1)),
     "norm_adv needs a minibatch of at least 2 samples (std with ddof=1), got 1"),
]


@pytest.mark.parametrize("call, message", RANGE_MESSAGES, ids=[m for _, m in RANGE_MESSAGES])
def test_range_messages_state_the_range(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert str(err.value) == message


def test_adam_step_rejects_bad_grads_before_touching_anything():
    """A rejected step leaves parameters, moments and the step count as they were."""
    params = {"w": np.ones(3)}
    state = optim.adam_init(params)
    with pytest.raises(ValueError, match="^grads"):
        optim.adam_step(params, {"w": _with(np.ones(3), 0, NAN)}, state, 1e-3)
    assert state["t"] == 0
    np.testing.assert_array_equal(params["w"], 1.0)
    np.testing.assert_array_equal(state["m"]["w"], 0.0)


# Nested lists and integers, as a caller may pass them: each checked function
# computes with the arrays its check converted them to (SPEC 0.1), the same numbers
# as with float arrays. (A conversion the check made but the body did not receive
# would compute with lists, or in integers.)
AS_LISTS = [
    ("log_prob", lambda f: distributions.log_prob(f(ACT), f(MU), f(LOG_STD))),
    ("kl", lambda f: distributions.kl(f(MU), f(LOG_STD), f(MU + 1.0), f(LOG_STD + 0.5))),
    ("entropy", lambda f: distributions.entropy(f(LOG_STD + 1.0))),
    ("sample", lambda f: distributions.sample(np.random.default_rng(0), f(MU), f(LOG_STD))),
    ("gae", lambda f: gae.gae(f(np.arange(10.0).reshape(T_N)), f(np.ones(T_N)), f(np.ones(T_N) * 2.0),
                              f(np.eye(5, 2, dtype=int)), f(np.zeros(T_N, dtype=int)), 0.9, 0.8)),
    ("linear_forward", lambda f: layers.linear_forward(f(np.ones((4, 3))), f(np.arange(6.0).reshape(3, 2)),
                                                       f(np.array([1.0, 2.0])))[0]),
    ("mlp_forward", lambda f: mlp.mlp_forward(PARAMS, "pi", f(np.arange(M * D).reshape(M, D) / 10.0))[0]),
    ("policy_mean", lambda f: agent.policy_mean(PARAMS, f(np.arange(M * D).reshape(M, D) / 10.0))),
    ("value", lambda f: agent.value(PARAMS, f(np.arange(M * D).reshape(M, D) / 10.0))),
    ("normalize_obs", lambda f: normalization.normalize_obs(f(np.arange(6.0).reshape(2, 3)),
                                                            normalization.rms_update(normalization.rms_init((3,)),
                                                                                     np.eye(3)))),
    ("rms_update", lambda f: normalization.rms_update(normalization.rms_init((3,)), f(np.eye(3) * 2.0)).var),
    ("scale_reward", lambda f: normalization.scale_reward(normalization.reward_scaler_init(2), f(np.array([1.0, 3.0])),
                                                          f(np.array([1, 0])), 0.99)[0]),
    ("ppo_loss", lambda f: _ppo_loss(obs=f(np.arange(M * D).reshape(M, D) / 10.0), actions=f(np.ones((M, A))),
                                     logprobs_old=f(-np.ones(M)), advantages=f(np.arange(M) * 1.0),
                                     returns=f(np.ones(M)), values_old=f(np.zeros(M)))[0]),
    ("clip_grad_norm", lambda f: optim.clip_grad_norm({"w": f(np.array([3.0, 4.0]))}, 1.0)[0]["w"]),
    ("adam_step", lambda f: _adam_step_params({"w": f(np.ones(3)), "b": f(np.array([1.0, 2.0]))})),
    ("linear_lr", lambda f: optim.linear_lr(2, 4, 1.0 if f is _same else 1)),
]


def _same(x):
    return x


def _as_list(x):
    """The array as nested Python lists, integers where its values are whole."""
    x = np.asarray(x)
    whole = np.all(x == np.round(x)) if x.dtype.kind == "f" else True
    return (x.astype(np.int64) if whole and x.dtype != bool else x).tolist()


def _adam_step_params(grads):
    params = {"w": np.zeros(3), "b": np.zeros(2)}
    optim.adam_step(params, grads, optim.adam_init(params), 1e-3)
    return params["w"]


@pytest.mark.parametrize("call", [c[1] for c in AS_LISTS], ids=[c[0] for c in AS_LISTS])
def test_lists_and_integers_compute_as_float_arrays(call):
    expected = np.asarray(call(_same))
    got = np.asarray(call(_as_list))
    assert got.dtype == expected.dtype and expected.dtype.kind == "f"
    np.testing.assert_array_equal(got, expected)


def test_a_non_finite_element_is_named_with_its_value_and_index():
    with pytest.raises(ValueError, match=r"^x must be finite, found nan at index \(1, 2\)$"):
        checks.as_float_array("x", _with(np.zeros((3, 4)), (1, 2), NAN))


def test_mlp_forward_names_both_sides_of_a_width_clash():
    with pytest.raises(ValueError) as err:
        mlp.mlp_forward(PARAMS, "pi", np.zeros((M, D + 1)))
    assert str(err.value) == f"params['pi.W0'] has {D} rows (shape {PARAMS['pi.W0'].shape}) but x has {D + 1} columns"
    with pytest.raises(ValueError) as err:
        mlp.mlp_forward(_with_param("pi.W1", np.zeros((3, 4))), "pi", np.zeros((M, D)))
    assert str(err.value).endswith(f"but params['pi.W0'] has {PARAMS['pi.W0'].shape[1]} columns")
    with pytest.raises(ValueError) as err:
        mlp.mlp_forward(_with_param("v.b1", np.zeros(5)), "v", np.zeros((M, D)))
    assert "params['v.W1']" in str(err.value)


def test_mlp_forward_refuses_a_bias_of_two_dimensions_naming_it():
    bias = PARAMS["v.b0"][:, None] * np.ones((1, 2))  # (4, 2): its first axis fits the layer
    with pytest.raises(ValueError, match=r"^params\['v.b0'\] must have ndim 1"):
        mlp.mlp_forward(_with_param("v.b0", bias), "v", np.zeros((M, D)))
