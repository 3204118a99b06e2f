"""Tests of ppo_ref.update: the epochs of minibatch steps, the early stop on
target_kl and the diagnostics, on hand-made batches.

Each sample's probability ratio is chosen by its ``logprobs_old`` (the current
log-probability minus the log of the ratio wanted), so each minibatch's approx_kl
is known before the update runs. With a learning rate of 0 the Adam steps leave the
parameters as they are, so every minibatch sees the ratios chosen, in whichever
epoch it runs: which minibatches ran can be read off the diagnostics.

The early stop (docs/implementation_details.md, S3, as CleanRL): after each
complete epoch, the approx_kl of that epoch's last minibatch is compared with
target_kl; when it is strictly larger the remaining epochs are skipped.
"""

import numpy as np
import pytest

from ppo_ref import engines
from ppo_ref.config import Config
from ppo_ref.core.agent import grad_norm_order, init_params, policy_mean
from ppo_ref.core.distributions import log_prob
from ppo_ref.core.losses import ppo_loss
from ppo_ref.core.optim import adam_init, adam_step, clip_scale, global_grad_norm
from ppo_ref.finite import NonFiniteError
from ppo_ref.testing import FLOAT64_RTOL
from ppo_ref.train import engine_for
from ppo_ref.update import DIAGNOSTICS, settings_of, update_with_permutations

OBS_DIM, ACT_DIM, B = 3, 2, 8
HOT = (0, 1)  # the samples whose ratio is HOT_RATIO; every other sample's ratio is 1
HOT_RATIO = 1.5
IDENTITY = np.arange(B)
HOT_FIRST = np.array([0, 1, 2, 3, 4, 5, 6, 7])  # minibatches of 2: the first one holds both hot samples
HOT_LAST = np.array([2, 3, 4, 5, 6, 7, 0, 1])  # the last one does
ENGINES = pytest.mark.parametrize("reference_core", [True, False], ids=["core", "fast"])


def _cfg(reference_core, **kwargs):
    kwargs = {"num_envs": 1, "num_steps": B, "num_minibatches": 4, "update_epochs": 3, "ent_coef": 0.01,
              "reference_core": reference_core, **kwargs}
    return Config(**kwargs)


def _problem(seed=0, ratios=None):
    """Parameters and a batch of B samples whose ratios at these parameters are
    ``ratios`` (default: HOT_RATIO for the HOT samples, 1 for the others)."""
    rng = np.random.default_rng(seed)
    params = init_params(rng, OBS_DIM, ACT_DIM, hidden=(5, 4))
    params["log_std"] = np.array([-0.3, 0.2])
    obs = rng.normal(size=(B, OBS_DIM))
    mu = policy_mean(params, obs)
    actions = mu + np.exp(params["log_std"]) * rng.normal(size=mu.shape)
    if ratios is None:
        ratios = np.where(np.isin(np.arange(B), HOT), HOT_RATIO, 1.0)
    batch = {"obs": obs, "actions": actions,
             "logprobs_old": log_prob(actions, mu, params["log_std"]) - np.log(ratios),
             "values_old": rng.normal(size=B), "advantages": rng.normal(size=B), "returns": rng.normal(size=B)}
    return params, batch


def _copy(params):
    return {k: v.copy() for k, v in params.items()}


def _update(cfg, params, opt, batch, lr, perms):
    """update_with_permutations with the settings and the engine ``cfg`` chooses."""
    return update_with_permutations(params, opt, batch, lr, perms, engine_for(cfg.reference_core),
                                    **settings_of(cfg))


def _minibatch_info(cfg, params, batch, idx):
    """The diagnostics of one minibatch at ``params``, straight from the core."""
    mb = {k: v[idx] for k, v in batch.items()}
    _, grads, info = ppo_loss(params, mb["obs"], mb["actions"], mb["logprobs_old"], mb["advantages"],
                              mb["returns"], mb["values_old"], clip_coef=cfg.clip_coef, ent_coef=cfg.ent_coef,
                              vf_coef=cfg.vf_coef, clip_vloss=cfg.clip_vloss, norm_adv=cfg.norm_adv)
    return {**info, "grad_norm": global_grad_norm(grads, grad_norm_order(params))}


def _expected_diagnostics(cfg, params, batch, perms):
    """The average over the minibatches of ``perms`` (all of them: the ones that
    should run), at fixed parameters (lr = 0)."""
    mb = cfg.minibatch_size
    infos = [_minibatch_info(cfg, params, batch, perm[s:s + mb]) for perm in perms for s in range(0, B, mb)]
    return {k: np.mean([info[k] for info in infos]) for k in DIAGNOSTICS}


class _Draws:
    """The permutations, handed out one at a time, counting how many were taken."""

    def __init__(self, perms):
        self.perms, self.taken = perms, 0

    def __iter__(self):
        for perm in self.perms:
            self.taken += 1
            yield perm


def _run(cfg, params, batch, perms, lr=0.0):
    draws = _Draws(perms)
    diagnostics = _update(cfg, _copy(params), adam_init(params), batch, lr, draws)
    return diagnostics, draws.taken


def _assert_diagnostics(got, expected):
    assert set(got) == set(DIAGNOSTICS)
    for k in DIAGNOSTICS:
        np.testing.assert_allclose(got[k], expected[k], rtol=FLOAT64_RTOL, err_msg=k)


def test_the_hand_made_minibatches_have_the_approx_kl_chosen():
    """The premise of the tests below: a minibatch holding both hot samples has
    approx_kl = ((r - 1) - log r) * 2 / 2 with r = HOT_RATIO; one without any, 0."""
    cfg = _cfg(True)
    params, batch = _problem()
    hot_kl = (HOT_RATIO - 1.0) - np.log(HOT_RATIO)
    np.testing.assert_allclose(_minibatch_info(cfg, params, batch, np.array(HOT))["approx_kl"], hot_kl, rtol=1e-12)
    assert abs(_minibatch_info(cfg, params, batch, np.array([2, 3]))["approx_kl"]) < 1e-15


@ENGINES
def test_epochs_stop_after_the_epoch_whose_last_minibatch_exceeds_target_kl(reference_core):
    """target_kl = 0.05 between 0 and the hot minibatch's approx_kl (about 0.095).
    Epoch 0 puts the hot minibatch first: it exceeds target_kl but is not the
    epoch's last, so the epoch completes and the next one starts. Epoch 1 ends on
    it: the update stops there, epoch 2's permutation is never drawn, and the
    diagnostics average the 8 minibatches of epochs 0 and 1 only."""
    cfg = _cfg(reference_core, target_kl=0.05)
    params, batch = _problem()
    perms = [HOT_FIRST, HOT_LAST, IDENTITY]
    diagnostics, taken = _run(cfg, params, batch, perms)
    assert taken == 2
    _assert_diagnostics(diagnostics, _expected_diagnostics(cfg, params, batch, perms[:2]))


@ENGINES
def test_approx_kl_equal_to_target_kl_does_not_stop(reference_core):
    """The stop needs approx_kl strictly above target_kl: at exactly the hot
    minibatch's approx_kl (computed the same way) every epoch runs."""
    params, batch = _problem()
    hot_kl = _minibatch_info(_cfg(True), params, batch, HOT_LAST[-2:])["approx_kl"]
    cfg = _cfg(reference_core, target_kl=hot_kl)
    perms = [HOT_LAST, HOT_LAST, HOT_LAST]
    diagnostics, taken = _run(cfg, params, batch, perms)
    assert taken == 3
    _assert_diagnostics(diagnostics, _expected_diagnostics(cfg, params, batch, perms))
    # one ulp lower and the first epoch is the last
    cfg = _cfg(reference_core, target_kl=float(np.nextafter(hot_kl, 0.0)))
    diagnostics, taken = _run(cfg, params, batch, perms)
    assert taken == 1
    _assert_diagnostics(diagnostics, _expected_diagnostics(cfg, params, batch, perms[:1]))


@ENGINES
def test_without_target_kl_every_epoch_runs(reference_core):
    cfg = _cfg(reference_core)
    assert cfg.target_kl is None
    params, batch = _problem(ratios=np.full(B, 3.0))  # approx_kl of every minibatch about 0.9
    perms = [HOT_LAST, IDENTITY, HOT_FIRST]
    diagnostics, taken = _run(cfg, params, batch, perms)
    assert taken == 3
    _assert_diagnostics(diagnostics, _expected_diagnostics(cfg, params, batch, perms))


@ENGINES
def test_update_with_permutations_uses_the_permutations_given(reference_core):
    """With lr > 0 the parameters after the update equal the minibatch steps
    replayed by hand with the core's functions (loss, gradient norm in
    grad_norm_order, clipping scale, Adam) over the minibatches ``perms[e][j*mb:(j+1)*mb]``;
    and other permutations give other parameters."""
    cfg = _cfg(reference_core, max_grad_norm=1.0)  # the minibatches' norms lie around it
    lr = 1e-2
    params, batch = _problem(seed=1)
    rng = np.random.default_rng(7)
    perms = np.array([rng.permutation(B) for _ in range(cfg.update_epochs)])

    expected, opt = _copy(params), adam_init(params)
    order, mb = grad_norm_order(params), cfg.minibatch_size
    clipped = 0
    for perm in perms:
        for start in range(0, B, mb):
            idx = perm[start:start + mb]
            m = {k: v[idx] for k, v in batch.items()}
            _, grads, _ = ppo_loss(expected, m["obs"], m["actions"], m["logprobs_old"], m["advantages"],
                                   m["returns"], m["values_old"], clip_coef=cfg.clip_coef, ent_coef=cfg.ent_coef,
                                   vf_coef=cfg.vf_coef, clip_vloss=cfg.clip_vloss, norm_adv=cfg.norm_adv)
            scale = clip_scale(global_grad_norm(grads, order), cfg.max_grad_norm)
            clipped += scale < 1.0
            adam_step(expected, {k: g * scale for k, g in grads.items()}, opt, lr)
    assert 0 < clipped < perms.size // mb  # some steps clipped, some not

    got, got_opt = _copy(params), adam_init(params)
    _update(cfg, got, got_opt, batch, lr, perms)
    assert got_opt["t"] == opt["t"] == cfg.update_epochs * cfg.num_minibatches
    for k in params:
        np.testing.assert_allclose(got[k], expected[k], rtol=FLOAT64_RTOL, atol=FLOAT64_RTOL, err_msg=k)
        np.testing.assert_allclose(got_opt["m"][k], opt["m"][k], rtol=FLOAT64_RTOL, atol=1e-300, err_msg=k)

    other = _copy(params)
    _update(cfg, other, adam_init(params), batch, lr, perms[::-1])
    assert any(not np.allclose(other[k], expected[k], rtol=1e-9, atol=0.0) for k in params)


@ENGINES
@pytest.mark.parametrize("num_minibatches, where", [(1, "minibatch 1"), (2, "minibatch 1")])
def test_a_non_finite_loss_names_its_minibatch(reference_core, num_minibatches, where):
    """An absurd learning rate throws the parameters to about 1e300 in the first
    step, so the second minibatch's loss overflows. Its number counts minibatches
    over the epochs: epoch 1's first with one minibatch per epoch, epoch 0's
    second with two."""
    cfg = _cfg(reference_core, num_minibatches=num_minibatches, update_epochs=2)
    params, batch = _problem()
    with pytest.raises(NonFiniteError) as err, np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        _update(cfg, _copy(params), adam_init(params), batch, 1e300, [IDENTITY, IDENTITY])
    assert err.value.where == [where]
    assert str(err.value).startswith("non-finite loss at minibatch 1;")


@ENGINES
def test_a_non_finite_gradient_norm_names_the_gradient(reference_core):
    """A value head of weights 1e152 keeps the loss finite (about 1e301) while the
    gradient of the layer below it reaches about 1e302, whose square overflows: the
    norm is inf and the first minibatch stops the update before any step."""
    cfg = _cfg(reference_core, update_epochs=1)
    params, batch = _problem()
    params["v.W2"] = np.full_like(params["v.W2"], 1e152)
    with pytest.raises(NonFiniteError) as err, np.errstate(over="ignore", invalid="ignore"):
        _update(cfg, _copy(params), adam_init(params), batch, 1e-3, [IDENTITY])
    assert str(err.value).startswith("non-finite gradient at minibatch 0;")


@pytest.mark.parametrize("reference_core, calls", [(True, 4), (False, 0)], ids=["core", "fast"])
def test_reference_core_chooses_the_engine(monkeypatch, reference_core, calls):
    """Both engines give the same numbers, so only the calls tell them apart:
    reference_core runs every minibatch through the core's learner, and without it
    the core's learner is not used."""
    seen = []
    loss_and_grads = engines.ReferenceLearner.loss_and_grads

    def spy(self, options, mb):
        seen.append(len(mb["obs"]))
        return loss_and_grads(self, options, mb)

    monkeypatch.setattr(engines.ReferenceLearner, "loss_and_grads", spy)
    params, batch = _problem()
    _run(_cfg(reference_core, update_epochs=1), params, batch, [IDENTITY])
    assert seen == [2] * calls


@ENGINES
def test_a_non_finite_parameter_is_named(reference_core):
    """With lr = 1e308 the bias-corrected step size lr / (1 - beta1) overflows, so the
    first Adam step leaves every parameter non-finite although loss and gradient
    were finite: the error names the first parameter in the canonical order."""
    cfg = _cfg(reference_core, update_epochs=1)
    params, batch = _problem()
    with pytest.raises(NonFiniteError) as err, np.errstate(over="ignore", invalid="ignore"):
        _update(cfg, _copy(params), adam_init(params), batch, 1e308, [IDENTITY])
    assert str(err.value).startswith("non-finite parameter pi.W0 at minibatch 0;")
