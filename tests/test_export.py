"""ppo_ref.port.export and ``ppo-ref export-torch``: a trained checkpoint as CleanRL's
Agent state dict, checked by running the exported arrays the way PyTorch does
(``x @ weight.T + bias``) in numpy, with no torch installed: the exported policy
chooses ``ppo-ref eval``'s actions on the same observations."""

import os
import pathlib
import re

import numpy as np
import pytest

from ppo_ref.run import checkpoint as ckpt
from ppo_ref.core.agent import policy_mean, value
from ppo_ref.cli import main
from ppo_ref.config import Config

from ppo_ref import evaluate as evaluate_module
from ppo_ref.envs.make import make_env
from ppo_ref.port.export import export_torch
from ppo_ref.core.normalization import normalize_obs
from ppo_ref.testing import FLOAT64_RTOL, rel_error
from ppo_ref.train import train

from conftest import quiet


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """One short Humanoid-v4 run (one iteration of 64 steps): real parameters
    and observation statistics in a real checkpoint."""
    path = tmp_path_factory.mktemp("export") / "run"
    cfg = Config(total_timesteps=64, num_steps=64, num_minibatches=2, update_epochs=1, run_dir=str(path))
    train(cfg, progress=False, log=quiet)
    return path


def expected_shapes(D, A):
    """CleanRL's ``Agent(envs).state_dict()``: own parameter first, then critic, then actor_mean."""
    return {
        "actor_logstd": (1, A),
        "critic.0.weight": (64, D), "critic.0.bias": (64,),
        "critic.2.weight": (64, 64), "critic.2.bias": (64,),
        "critic.4.weight": (1, 64), "critic.4.bias": (1,),
        "actor_mean.0.weight": (64, D), "actor_mean.0.bias": (64,),
        "actor_mean.2.weight": (64, 64), "actor_mean.2.bias": (64,),
        "actor_mean.4.weight": (A, 64), "actor_mean.4.bias": (A,),
        "obs_rms.mean": (D,), "obs_rms.var": (D,), "obs_rms.count": (),
        "obs_rms.clip": (), "obs_rms.epsilon": (),
    }


def load(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def torch_way(sd, module, x):
    """``nn.Sequential(Linear, Tanh, Linear, Tanh, Linear)`` as PyTorch computes it."""
    for i in (0, 2, 4):
        x = x @ sd[f"{module}.{i}.weight"].T + sd[f"{module}.{i}.bias"]
        if i < 4:
            x = np.tanh(x)
    return x


def test_names_shapes_and_layout(run_dir, tmp_path):
    _, params, obs_rms = ckpt.load_policy(run_dir)
    D, A = params["pi.W0"].shape[0], params["log_std"].shape[0]
    written = export_torch(run_dir, tmp_path / "agent.npz")
    sd = load(tmp_path / "agent.npz")
    assert list(written) == list(sd)
    assert {k: v.shape for k, v in sd.items()} == expected_shapes(D, A)
    assert list(sd) == list(expected_shapes(D, A))
    assert all(v.dtype == np.float64 for v in sd.values())
    np.testing.assert_array_equal(sd["actor_mean.2.weight"], params["pi.W1"].T)
    np.testing.assert_array_equal(sd["critic.4.bias"], params["v.b2"])
    np.testing.assert_array_equal(sd["actor_logstd"][0], params["log_std"])
    np.testing.assert_array_equal(sd["obs_rms.var"], obs_rms.var)
    assert sd["obs_rms.count"] == obs_rms.count
    assert sd["obs_rms.clip"] == 10.0 and sd["obs_rms.epsilon"] == 1e-8


def test_torch_way_forward_reproduces_mu_and_v(run_dir, tmp_path, rng):
    _, params, obs_rms = ckpt.load_policy(run_dir)
    export_torch(run_dir, tmp_path / "agent.npz")
    sd = load(tmp_path / "agent.npz")
    raw = obs_rms.mean + np.sqrt(obs_rms.var) * rng.normal(0.0, 2.0, (7, obs_rms.mean.shape[0]))  # (7, D)
    # gymnasium's NormalizeObservation followed by CleanRL's clip to [-10, 10]
    x = np.clip((raw - sd["obs_rms.mean"]) / np.sqrt(sd["obs_rms.var"] + sd["obs_rms.epsilon"]),
                -sd["obs_rms.clip"], sd["obs_rms.clip"])
    obs = normalize_obs(raw, obs_rms)
    assert rel_error(torch_way(sd, "actor_mean", x), policy_mean(params, obs)) <= FLOAT64_RTOL
    assert rel_error(torch_way(sd, "critic", x)[:, 0], value(params, obs)) <= FLOAT64_RTOL


def test_cli_exports_a_run_directory(run_dir, tmp_path, capsys):
    out = tmp_path / "agent.npz"
    assert main(["export-torch", str(run_dir), str(out)]) == 0
    assert "agent.npz" in capsys.readouterr().out
    direct = export_torch(run_dir / ckpt.CHECKPOINT_NAME, tmp_path / "direct.npz")
    exported = load(out)
    assert list(exported) == list(direct)
    for k in direct:
        np.testing.assert_array_equal(exported[k], direct[k], err_msg=k)


def cleanrl_policy(sd, low, high):
    """The exported arrays applied as CleanRL's Agent would, in float64: the frozen
    observation statistics with their epsilon and clip, then ``actor_mean`` in
    torch's layout; the action is the mean, or ``mean + exp(actor_logstd) * noise``,
    clipped to the action bounds."""
    def act(obs, noise=None):
        x = np.clip((obs - sd["obs_rms.mean"]) / np.sqrt(sd["obs_rms.var"] + sd["obs_rms.epsilon"]),
                    -sd["obs_rms.clip"], sd["obs_rms.clip"])
        mean = torch_way(sd, "actor_mean", x[None])[0]
        action = mean if noise is None else mean + np.exp(sd["actor_logstd"][0]) * noise
        return np.clip(action, low, high)
    return act


def eval_act(monkeypatch, run_dir, deterministic, seed):
    """The act(obs) that ``ppo-ref eval`` (evaluate.evaluate) runs its episodes with."""
    captured = []
    monkeypatch.setattr(evaluate_module, "run_episodes", lambda env_id, episodes, s, act, record=None:
                        captured.append(act))
    evaluate_module.evaluate(run_dir, 1, deterministic=deterministic, seed=seed)
    return captured[0]


def observations(run_dir, rng):
    """Raw observations from the env (a random walk) and wide ones, some beyond the
    normaliser's clip."""
    cfg, _, obs_rms = ckpt.load_policy(run_dir)
    env = make_env(cfg.env_id)
    try:
        obs, _ = env.reset(seed=3)
        rows = [obs]
        for _ in range(20):
            obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
            rows.append(obs)
            if terminated or truncated:
                obs, _ = env.reset(seed=4)
        low, high = env.action_space.low, env.action_space.high
    finally:
        env.close()
    wide = obs_rms.mean + np.sqrt(obs_rms.var) * rng.normal(0.0, 6.0, (20, obs_rms.mean.shape[0]))
    return np.concatenate([np.array(rows), wide]), low, high


@pytest.mark.parametrize("deterministic", [True, False])
def test_exported_policy_acts_like_ppo_ref_eval(run_dir, tmp_path, rng, monkeypatch, deterministic):
    """On the same raw observations (and, for sampled actions, the same noise), the
    exported arrays applied in CleanRL's layout choose ppo-ref eval's actions."""
    export_torch(run_dir, tmp_path / "agent.npz")
    sd = load(tmp_path / "agent.npz")
    obs, low, high = observations(run_dir, rng)
    seed = 11
    ours = eval_act(monkeypatch, run_dir, deterministic, seed)
    theirs = cleanrl_policy(sd, low, high)
    noise_rng = np.random.default_rng(seed)  # eval's generator: one standard normal per action dim and step
    expected = np.array([ours(o) for o in obs])
    actual = np.array([theirs(o, None if deterministic else noise_rng.standard_normal(low.shape)) for o in obs])
    assert rel_error(actual, expected) <= FLOAT64_RTOL
    assert actual.dtype == expected.dtype == np.float64
    # The comparison covers both clips: observations beyond +-10 and actions at the bounds.
    x = (obs - sd["obs_rms.mean"]) / np.sqrt(sd["obs_rms.var"] + sd["obs_rms.epsilon"])
    assert (np.abs(x) > sd["obs_rms.clip"]).any() and (np.abs(x) < sd["obs_rms.clip"]).any()
    if not deterministic:
        assert ((expected == low) | (expected == high)).any() and ((expected > low) & (expected < high)).any()


def test_cli_refuses_to_overwrite_unless_forced(run_dir, tmp_path, capsys):
    out = tmp_path / "agent.npz"
    out.write_bytes(b"a file of the user's")
    with pytest.raises(SystemExit) as exit_info:
        main(["export-torch", str(run_dir), str(out)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(out) in err and "--force" in err
    assert out.read_bytes() == b"a file of the user's"
    with pytest.raises(FileExistsError):
        export_torch(run_dir, out)
    assert out.read_bytes() == b"a file of the user's"
    assert main(["export-torch", "--force", str(run_dir), str(out)]) == 0
    assert list(load(out)) == list(export_torch(run_dir, tmp_path / "again.npz"))
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main(["export-torch", "--force", str(run_dir), str(folder)])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f"ppo-ref: error: {folder} is a folder; name the .npz file to write\n"
    assert os.listdir(folder) == []


def test_cli_refuses_a_non_checkpoint_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "agent.npz"
    with pytest.raises(SystemExit) as exit_info:
        main(["export-torch", str(tmp_path / "no-such-run"), str(out)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no-such-run" in err
    assert not out.exists()


@pytest.mark.parametrize("deterministic", [True, False])
def test_eval_actions_records_what_eval_acted_on_and_a_port_reproduces_it(run_dir, tmp_path, capsys,
                                                                          deterministic):
    """``ppo-ref eval --actions``: every step's raw observation and action sent to the
    env; the exported policy, applied as CleanRL's Agent would, gives the same
    action on each recorded observation (with the recorded noise when sampled),
    and the record is what gymnasium and numpy's generator give on their own."""
    out, agent = tmp_path / "actions.npz", tmp_path / "agent.npz"
    flags = ["--deterministic"] if deterministic else []
    assert main(["eval", str(run_dir), "--episodes", "2", "--seed", "5", "--actions", str(out), *flags]) == 0
    assert f"wrote {out}: " in capsys.readouterr().out
    rec = load(out)
    export_torch(run_dir, agent)
    sd = load(agent)
    env = make_env(ckpt.load_policy(run_dir)[0].env_id)
    low, high = env.action_space.low, env.action_space.high
    act = cleanrl_policy(sd, low, high)
    steps, A = rec["action"].shape
    assert steps == len(rec["obs"]) == len(rec["episode"]) > 0 and list(rec["reset_seeds"]) == [5, 6]
    assert sorted(set(rec["episode"].tolist())) == [0, 1] and bool(rec["deterministic"]) == deterministic
    np.testing.assert_array_equal(rec["obs"][0], env.reset(seed=5)[0])  # episode k reset with seed + k
    first_of_second = int(np.argmax(rec["episode"] == 1))
    np.testing.assert_array_equal(rec["obs"][first_of_second], env.reset(seed=6)[0])
    env.close()
    if deterministic:
        assert not rec["noise"].any()
    else:  # one standard normal per action dimension per step, in step order, from default_rng(seed)
        np.testing.assert_array_equal(rec["noise"], np.random.default_rng(5).standard_normal((steps, A)))
    for obs, noise, action in zip(rec["obs"], rec["noise"], rec["action"]):
        port = act(obs, None if deterministic else noise)
        assert rel_error(port, action) <= FLOAT64_RTOL
    assert len(rec["returns"]) == 2


def test_eval_actions_refuses_an_existing_file_and_a_video(run_dir, tmp_path, capsys):
    out = tmp_path / "actions.npz"
    out.write_bytes(b"keep me")
    with pytest.raises(SystemExit) as exit_:
        main(["eval", str(run_dir), "--actions", str(out)])
    assert exit_.value.code == 2 and "exists already" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"
    with pytest.raises(SystemExit) as exit_:
        main(["eval", str(run_dir), "--actions", str(tmp_path / "new.npz"), "--gif", str(tmp_path / "a.gif")])
    assert exit_.value.code == 2 and "does not go with --video or --gif" in capsys.readouterr().err


def test_eval_actions_into_a_folder_that_is_not_there_is_refused_before_the_episodes(run_dir, tmp_path, capsys,
                                                                                    monkeypatch):
    def no_episodes(*args, **kwargs):
        raise AssertionError("the episodes ran before the output's folder was checked")

    monkeypatch.setattr("ppo_ref.evaluate.evaluate", no_episodes)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for out, message in ((tmp_path / "missing" / "actions.npz", f"No such file or directory: {tmp_path}/missing/"),
                         (blocker / "actions.npz", f"{blocker / 'actions.npz'}: {blocker} is a file, not a folder")):
        with pytest.raises(SystemExit) as exit_:
            main(["eval", str(run_dir), "--actions", str(out)])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    assert sorted(os.listdir(tmp_path)) == ["a-file"]


PORTING_MD = pathlib.Path(__file__).resolve().parent.parent / "docs" / "porting.md"


def _python_blocks(text, start, stop):
    """The ```python blocks of docs/porting.md between two headings or phrases."""
    part = text[text.index(start):text.index(stop)]
    return re.findall(r"```python\n(.*?)```", part, re.S)


def test_the_porting_example_runs_as_written(run_dir, tmp_path, monkeypatch, capsys):
    """docs/porting.md §2's check and its Adam state, run as written (with torch,
    where it is installed): per observation the torch Agent acts as eval did, and
    torch.optim.Adam continued from the checkpoint's state steps as adam_step does."""
    torch = pytest.importorskip("torch")
    from ppo_ref.core.optim import adam_step

    text = PORTING_MD.read_text(encoding="utf-8")
    check, = _python_blocks(text, "The whole check, CleanRL's `Agent` written out", "### Adam's state")
    adam, = _python_blocks(text, "### Adam's state in `torch.optim.Adam`", "## 3.")
    monkeypatch.chdir(tmp_path)
    for flags in ([], ["--deterministic"]):
        for name in ("agent.npz", "actions.npz"):
            (tmp_path / name).unlink(missing_ok=True)
        assert main(["export-torch", str(run_dir), "agent.npz"]) == 0
        assert main(["eval", str(run_dir), "--episodes", "2", "--seed", "0", "--actions", "actions.npz", *flags]) == 0
        scope = {}
        exec(compile(check, "docs/porting.md §2", "exec"), scope)
        assert "observations, worst |port - eval| / max |eval| = " in capsys.readouterr().out
    exec(compile(adam.replace("RUN_DIR", str(run_dir)), "docs/porting.md §2 (Adam)", "exec"), scope)
    rng = np.random.default_rng(0)
    grads = {key: rng.normal(size=p.shape) for key, p in scope["agent"].named_parameters()}
    for key, p in scope["agent"].named_parameters():
        p.grad = torch.from_numpy(grads[key])
    scope["optimizer"].step()
    cfg, params, _ = ckpt.load_policy(run_dir)
    arrays = ckpt.load(run_dir)
    state = {"m": ckpt.subdict(arrays, "adam/m"), "v": ckpt.subdict(arrays, "adam/v"), "t": int(arrays["adam/t"])}
    names, shape = scope["names"], scope["torch_shape"]
    ours_grads = {names[k]: g[0] if names[k] == "log_std" else g.T if g.ndim == 2 else g for k, g in grads.items()}
    adam_step(params, ours_grads, state, 3e-4)
    for key, p in scope["agent"].named_parameters():
        ours = names[key]
        got = scope["optimizer"].state[p]
        assert int(got["step"]) == state["t"]
        for torch_value, value in ((p.detach().numpy(), params[ours]), (got["exp_avg"].numpy(), state["m"][ours]),
                                   (got["exp_avg_sq"].numpy(), state["v"][ours])):
            assert rel_error(torch_value, shape(ours, value)) <= FLOAT64_RTOL, key
