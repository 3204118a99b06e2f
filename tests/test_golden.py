"""The committed golden vectors (tests/golden) still hold what the code computes,
and generating them is deterministic to the byte.

Each case is checked twice: its outputs recomputed from the committed inputs
(independent of numpy's random streams), and the whole case regenerated from its
seed. In portable numerics (SPEC 8.2) every case must agree exactly, on every
x86-64 CPU with AVX2 and FMA. In native numerics, cases the contract fixes bit for
bit whatever the machine (``exact``: GAE, elementwise IEEE operations in the order
SPEC 4 writes them) must still agree exactly; the others pass through matrix
products, exp and log, whose last bits depend on the BLAS kernel and the SIMD
level, and must agree to FLOAT64_RTOL of each array's scale. Integer and boolean
arrays (permutations, flags, step counts) always agree exactly. When a change of
the numbers is intended, regenerate with ``make golden`` and commit.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from ppo_ref import numerics
from ppo_ref.core.agent import grad_norm_order, param_names
from ppo_ref.core.losses import ADV_EPS
from ppo_ref.core.optim import global_grad_norm
from ppo_ref.port import golden
from ppo_ref.port.cases import CASES as GOLDEN_CASES, LOSS_CONFIG, LOSS_OPTION_MEANINGS
from ppo_ref.port.format import FORMAT_VERSION, INDEX_NAME, GoldenError, load_case, read_index
from ppo_ref.testing import FLOAT64_RTOL, rel_error

from conftest import GOLDEN_DIR

CASES = {case.name: case for case in GOLDEN_CASES}


@pytest.fixture(scope="module")
def index():
    return read_index(GOLDEN_DIR)


def committed(index, name):
    entry = next(c for c in index["cases"] if c["name"] == name)
    return entry, load_case(GOLDEN_DIR, entry)


def assert_same(name, actual, expected, exact):
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape}, committed {expected.shape}"
    assert actual.dtype == expected.dtype, f"{name}: dtype {actual.dtype}, committed {expected.dtype}"
    if exact or numerics.is_portable() or expected.dtype.kind != "f":
        np.testing.assert_array_equal(actual, expected, err_msg=f"{name} changed; if intended, run make golden")
    else:
        err = rel_error(actual, expected)
        assert err <= FLOAT64_RTOL, f"{name} changed by {err:.3g} of its scale; if intended, run make golden"


def test_index_lists_every_case_with_its_documented_arrays(index):
    assert index["format_version"] == FORMAT_VERSION
    assert [c["name"] for c in index["cases"]] == list(CASES)
    for entry in index["cases"]:
        _, entries = golden.build_case(CASES[entry["name"]])
        assert entry["arrays"] == entries, f"{entry['name']}: index.json is stale; run make golden"
        assert entry["exact"] == CASES[entry["name"]].exact
        assert all(a["meaning"] for a in entries)
    files = {c["file"] for c in index["cases"]} | {INDEX_NAME}
    assert set(os.listdir(GOLDEN_DIR)) == files, "tests/golden holds files that index.json does not list"


@pytest.mark.parametrize("name", list(CASES))
def test_outputs_recomputed_from_committed_inputs_match(index, name):
    entry, arrays = committed(index, name)
    inputs = {a["name"]: arrays[a["name"]].copy() for a in entry["arrays"] if a["role"] == "input"}
    outputs = CASES[name].compute(inputs)
    assert [o[0] for o in outputs] == [a["name"] for a in entry["arrays"] if a["role"] == "output"]
    for out_name, arr, _ in outputs:
        assert_same(f"{name}/{out_name}", arr, arrays[out_name], CASES[name].exact)


@pytest.mark.parametrize("name", list(CASES))
def test_case_regenerated_from_its_seed_matches(index, name):
    _, arrays = committed(index, name)
    fresh, _ = golden.build_case(CASES[name])
    assert list(fresh) == list(arrays)
    for key, arr in fresh.items():
        assert_same(f"{name}/{key}", arr, arrays[key], CASES[name].exact)


def test_cases_exercise_the_branches_they_are_for(index):
    """Vectors that never clip or never end an episode would let a port's bug through."""
    _, loss = committed(index, "ppo_loss")
    assert 0.0 < loss["info/clipfrac"] < 1.0
    _, adam = committed(index, "adam_step")
    assert adam["grad_norm"] > adam["max_grad_norm"]
    _, update = committed(index, "ppo_update")
    assert 0.0 < update["info/clipfrac"] < 1.0
    assert update["info/grad_norm"] > update["max_grad_norm"]
    assert update["t_after"] == update["t"] + update["update_epochs"] * update["num_minibatches"]
    assert all(sorted(p) == list(range(p.size)) for p in update["permutations"])
    _, gae_in = committed(index, "gae_bootstrap")
    term, trunc = gae_in["terminated"], gae_in["truncated"]
    assert (term & ~trunc).any() and (trunc & ~term).any() and (term & trunc).any()
    assert (term | trunc)[-1].any() and (term | trunc)[0].any()
    _, gae_off = committed(index, "gae_no_bootstrap")
    assert not np.array_equal(gae_in["advantages"], gae_off["advantages"])


def test_parameter_groups_are_listed_in_the_canonical_order(index):
    """Every group of parameter-shaped arrays (params/, grads/, m/, v/, ..._after/,
    clipped_grads/) is listed in param_names order, in index.json and in the .npz."""
    canonical = param_names(_sub_names(committed(index, "ppo_update")[1], "params"))
    groups = 0
    for entry in index["cases"]:
        _, arrays = committed(index, entry["name"])
        listed = [a["name"] for a in entry["arrays"]]
        assert listed == list(arrays), f"{entry['name']}: the .npz and index.json list the arrays differently"
        for prefix in {n.split("/")[0] for n in listed if "/" in n}:
            names = [n.split("/", 1)[1] for n in listed if n.startswith(prefix + "/")]
            if set(names) == set(canonical):
                assert names == canonical, f"{entry['name']}/{prefix}: not in the canonical order"
                groups += 1
    assert groups == 31  # ppo_loss, ppo_loss_kinks: 2 each; adam_step: 8; ppo_update, ppo_update_kinks, iteration: 6
    # each; init: 1


def _sub_names(arrays, prefix):
    return {k[len(prefix) + 1:]: v for k, v in arrays.items() if k.startswith(prefix + "/")}


def test_adam_step_case_sums_its_norm_in_grad_norm_order(index):
    """The adam_step case's norm is summed in agent.grad_norm_order, the order
    index.json states and update.update_with_permutations uses."""
    entry, arrays = committed(index, "adam_step")
    inputs = {a["name"]: arrays[a["name"]].copy() for a in entry["arrays"] if a["role"] == "input"}
    out = {n: a for n, a, _ in CASES["adam_step"].compute(inputs)}
    grads = _sub_names(inputs, "grads")
    assert float(out["grad_norm"]) == global_grad_norm(grads, grad_norm_order(grads))


def test_index_states_what_a_port_would_otherwise_dig_out(index):
    conv = index["conventions"]
    order = ", ".join(golden.GRAD_NORM_ORDER)
    assert order in conv["gradients"] and "canonical order" in conv["gradients"]
    assert list(golden.GRAD_NORM_ORDER) == grad_norm_order(_sub_names(committed(index, "ppo_loss")[1], "grads"))
    assert "per minibatch" in conv["advantages"] or "each minibatch" in conv["advantages"]
    assert "ddof=1" in conv["advantages"] and f"+ {ADV_EPS})" in conv["advantages"]
    assert "incremented before the bias corrections" in conv["adam"]
    assert "by role" in conv["roles"] and "outputs beside its inputs" in conv["roles"]
    for entry in index["cases"]:
        options = [a for a in entry["arrays"] if a["name"] in LOSS_CONFIG]
        for a in options:
            assert a["meaning"] == LOSS_OPTION_MEANINGS[a["name"]] and len(a["meaning"]) > len("loss option (SPEC 5)")
    assert len(set(LOSS_OPTION_MEANINGS.values())) == len(LOSS_CONFIG)


def read_tree(path):
    return {name: open(os.path.join(path, name), "rb").read() for name in sorted(os.listdir(path))}


def test_generation_is_byte_deterministic(tmp_path):
    """``make golden`` twice gives identical bytes: once through the CLI, once
    through the function, into fresh directories."""
    proc = subprocess.run([sys.executable, "-m", "ppo_ref", "golden", str(tmp_path / "a")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    golden.generate(tmp_path / "b")
    a, b = read_tree(tmp_path / "a"), read_tree(tmp_path / "b")
    assert list(a) == list(b) == sorted(read_tree(GOLDEN_DIR))
    for name in a:
        assert a[name] == b[name], f"{name} differs between two generations"


@pytest.mark.parametrize("text", ['{"name": "another project"}', "not json"])
def test_a_folder_whose_index_json_is_not_a_golden_index_is_refused_and_kept(tmp_path, text):
    (tmp_path / INDEX_NAME).write_text(text)
    with pytest.raises(GoldenError, match="is not a ppo_ref golden index, and writing the vectors would replace it"):
        golden.generate(tmp_path)
    assert os.listdir(tmp_path) == [INDEX_NAME] and (tmp_path / INDEX_NAME).read_text() == text


def test_an_index_of_golden_vectors_of_another_version_is_replaced(tmp_path):
    (tmp_path / INDEX_NAME).write_text('{"format": "ppo_ref-golden", "format_version": 1}')
    golden.generate(tmp_path)
    assert read_index(tmp_path)["format_version"] == FORMAT_VERSION


def test_vectors_load_without_pickle_and_hold_only_plain_dtypes(index):
    for entry in index["cases"]:
        with np.load(os.path.join(GOLDEN_DIR, entry["file"]), allow_pickle=False) as f:
            for key in f.files:
                assert f[key].dtype.str in ("<f8", "<i8", "|b1"), f"{entry['name']}/{key}: {f[key].dtype}"
