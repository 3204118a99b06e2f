"""The kink cases (ppo_ref/port/kinks.py) put their samples exactly on the kinks,
in the reference core's own float64 computation: the ratios and values that
core.losses.ppo_loss hands to its surrogate and value terms are recorded as the
cases' outputs are recomputed from the committed inputs."""

import numpy as np
import pytest

from ppo_ref.core import losses
from ppo_ref.port.cases import CASES
from ppo_ref.port.kinks import KINK_CLIP_COEF as EPS, KINK_ROWS, KINK_VALUE

from conftest import golden_inputs


@pytest.fixture
def seen(monkeypatch):
    """The arguments of every surrogate and value-loss call, in order."""
    calls = {"surrogate": [], "value": []}
    surrogate, value_terms = losses.clipped_surrogate, losses.value_loss_terms

    def record_surrogate(ratio, adv, clip_coef):
        calls["surrogate"].append((ratio.copy(), adv.copy()))
        return surrogate(ratio, adv, clip_coef)

    def record_value(v, values_old, returns, clip_coef, clip_vloss):
        calls["value"].append((v.copy(), values_old.copy(), returns.copy()))
        return value_terms(v, values_old, returns, clip_coef, clip_vloss)

    monkeypatch.setattr(losses, "clipped_surrogate", record_surrogate)
    monkeypatch.setattr(losses, "value_loss_terms", record_value)
    return calls


@pytest.mark.parametrize("name", ["ppo_loss_kinks", "ppo_update_kinks"])
def test_the_first_minibatch_sits_exactly_on_every_kink(seen, name):
    case = next(c for c in CASES if c.name == name)
    case.compute(golden_inputs(name))
    ratio, adv = seen["surrogate"][0]
    v, values_old, returns = seen["value"][0]
    assert ratio.shape == (KINK_ROWS,)
    np.testing.assert_array_equal(ratio[:2], [1.0 - EPS, 1.0 + EPS])
    assert adv[0] == 2.0 and adv[1] == -1.0  # powers of 2: -A rho is exact
    assert adv[4] == 0.0
    np.testing.assert_array_equal(v, KINK_VALUE)
    delta = v - values_old
    assert delta[5] == EPS and delta[6] == -EPS
    clipped = values_old + np.clip(delta, -EPS, EPS)
    assert clipped[5] == v[5] and clipped[6] == v[6]  # so the value loss's two terms tie there
    assert abs(delta[7]) > EPS
    assert (v[7] - returns[7]) ** 2 == (clipped[7] - returns[7]) ** 2 and v[7] != clipped[7]
    # The ordinary rows are not all inside the clip range, nor all outside.
    assert np.any(np.abs(ratio - 1.0) > EPS) and np.any(np.abs(ratio[2:] - 1.0) < EPS)


@pytest.mark.parametrize("name", ["ppo_loss_kinks", "ppo_update_kinks"])
def test_the_value_kinks_are_exact_in_float32_too(name):
    """Dyadic values, old values, returns and eps: every value kink holds in float32."""
    case = next(c for c in CASES if c.name == name)
    x = golden_inputs(name)
    prefix = "batch/" if name == "ppo_update_kinks" else ""
    rows = x["permutations"][0, :KINK_ROWS] if prefix else np.arange(KINK_ROWS)
    v_old, ret = (x[prefix + k][rows].astype(np.float32) for k in ("values_old", "returns"))
    v, eps = np.float32(KINK_VALUE), np.float32(x["clip_coef"])
    assert case.exact is False and float(eps) == EPS
    delta = v - v_old
    clipped = v_old + np.clip(delta, -eps, eps)
    assert delta[5] == eps and delta[6] == -eps and clipped[5] == v and clipped[6] == v
    assert (v - ret[7]) ** 2 == (clipped[7] - ret[7]) ** 2


def test_at_the_kinks_the_gradient_follows_the_conventions(seen):
    """SPEC 5.3 to 5.5 on the recorded arrays: at a clip bound d/drho = -A (the
    closed range); at the value max's tie outside the range, half of 2 (v - R)."""
    CASES[[c.name for c in CASES].index("ppo_loss_kinks")].compute(golden_inputs("ppo_loss_kinks"))
    ratio, adv = seen["surrogate"][0]
    _, dratio = losses.clipped_surrogate(ratio, adv, EPS)
    np.testing.assert_array_equal(dratio[[0, 1, 4]], -adv[[0, 1, 4]])
    v, values_old, returns = seen["value"][0]
    _, dv = losses.value_loss_terms(v, values_old, returns, EPS, True)
    assert dv[7] == 0.5 * 2.0 * (v[7] - returns[7])
    np.testing.assert_array_equal(dv[5:7], 2.0 * (v[5:7] - returns[5:7]))
