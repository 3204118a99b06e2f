"""Checkpoints: one ``.npz`` of plain arrays (no pickle, so loading never runs code).

A checkpoint holds everything needed to continue a run bit for bit or to evaluate
it (SPEC 8): parameters, Adam state, normaliser statistics, iteration and step
counters, every generator's state, the config, the library versions, and each
env's simulator state with the episode in progress.

Files are written atomically (:func:`ppo_ref.npzio.write_npz_atomic`): to a
temporary file in the same directory, flushed and fsynced, then renamed over the
old one, so a crash during a write leaves the previous checkpoint intact.

Files are read as untrusted (:func:`ppo_ref.npzio.read_npz`): every member's
header is checked against what a checkpoint holds (:class:`_Expect`) before any
data is read, and the data may not total more than the file's size (np.savez
stores members uncompressed, so a real checkpoint's data is smaller than its file).
"""

import json
import os
import platform
import re
import zipfile

import numpy as np

from ppo_ref import __version__, numerics
from ppo_ref.config import DTYPES, Config
from ppo_ref.core.agent import NETWORKS
from ppo_ref.core.mlp import HIDDEN, layer_names
from ppo_ref.errors import UserError
from ppo_ref.core.normalization import RewardScaler, RunningMeanStd
from ppo_ref.npzio import NpzError, read_npz, write_npz_atomic
from ppo_ref.run.layout import CHECKPOINT_NAME
from ppo_ref.state import RNG_NAMES, TrainState

FORMAT = "ppo_ref-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(UserError):
    """A file cannot be used as a ppo_ref checkpoint; the message says why."""


def library_versions():
    import gymnasium
    import mujoco

    return {
        "ppo_ref": __version__,
        "numpy": np.__version__,
        "gymnasium": gymnasium.__version__,
        "mujoco": mujoco.__version__,
        "python": platform.python_version(),
    }


def run_record():
    """The library versions and the numerics in force: what config.json and every
    checkpoint record beside the numbers (SPEC 8.2)."""
    return {**library_versions(), "numerics": numerics.record()}


def json_array(obj):
    """A JSON document stored as a 0-d unicode array (loadable without pickle)."""
    return np.array(json.dumps(obj))


def from_json_array(arr):
    return json.loads(str(arr))


def save(path, arrays):
    """Save a checkpoint: ``arrays`` plus the format tag, version, library versions
    and numerics."""
    out = {
        "format": np.array(FORMAT),
        "format_version": np.array(FORMAT_VERSION),
        "versions": json_array(run_record()),
    }
    out.update(arrays)
    write_npz_atomic(path, out)


def resolve(path):
    """A checkpoint file, or the checkpoint inside a run directory."""
    path = os.fspath(path)
    if os.path.isdir(path):
        inner = os.path.join(path, CHECKPOINT_NAME)
        if not os.path.isfile(inner):
            raise CheckpointError(f"{path} is a directory with no {CHECKPOINT_NAME}; is it a ppo_ref run directory?")
        return inner
    if not os.path.isfile(path):
        raise CheckpointError(f"no checkpoint at {path}: no such file or directory")
    return path


def load(path):
    """Load and check a checkpoint; returns a dict of arrays. Refuses truncated
    files, files that are not ppo_ref checkpoints, other format versions, and
    members a checkpoint does not hold or whose dtype or shape does not fit the
    others (see :class:`_Expect`), before reading any data."""
    path = resolve(path)
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a ppo_ref checkpoint: not an .npz (zip) file, or a truncated one")
    expect = _Expect(path)
    try:
        arrays = read_npz(path, max_bytes=os.path.getsize(path), expect=expect)
    except NpzError as err:
        raise CheckpointError(str(err)) from None
    if "format" not in arrays or str(arrays["format"]) != FORMAT:
        raise CheckpointError(f"{path} is an .npz file but not a ppo_ref checkpoint")
    if "format_version" in arrays:
        version = int(arrays["format_version"])
        if version != FORMAT_VERSION:
            raise CheckpointError(
                f"{path} has checkpoint format version {version}; this ppo_ref reads version {FORMAT_VERSION}"
            )
    _check_complete(path, arrays, expect)
    return arrays


# What a checkpoint holds (see state_to_arrays): member name -> (dtype, shape).
# Dtypes: "U" unicode (JSON), "i" signed integer, "f" float64, "b" bool, "float"
# any float (raw observations are what the env emits), "p" the run's dtype
# (Config.dtype: float64 or float32, the same for every parameter and moment).
# Shapes are tuples of sizes and of the dimensions named in _DIMS, bound by the
# first member that has them.
# The hidden widths of the agent's networks (core/mlp.py's HIDDEN): one dimension H
# when they are all equal, else H1, H2, ... one per hidden layer.
_HIDDEN = ["H"] * len(HIDDEN) if len(set(HIDDEN)) == 1 else [f"H{i + 1}" for i in range(len(HIDDEN))]
_DIMS = {"D": "observation dims", "A": "action dims", "N": "num_envs",
         **{h: "hidden width" if h == "H" else f"width of hidden layer {h[1:]}" for h in _HIDDEN}}
_OUTPUTS = {"pi": "A", "v": 1}  # the policy mean's outputs, the value's


def _param_shapes():
    """The agent's parameters (core/agent.py) and their shapes, read off their names:
    layer i of network NET is ``NET.Wi`` (in, out) and ``NET.bi`` (out,), where in is
    D for the first layer and the width of the hidden layer before it otherwise, and
    out is the layer's hidden width, or for the last layer the network's outputs;
    ``log_std`` is (A,)."""
    sizes = ["D", *_HIDDEN]
    shapes = {}
    for net in NETWORKS:
        for i in range(len(sizes)):
            out = sizes[i + 1] if i + 1 < len(sizes) else _OUTPUTS[net]
            weight, bias = layer_names(net, i)
            shapes[weight], shapes[bias] = (sizes[i], out), (out,)
    shapes["log_std"] = ("A",)
    return shapes


_PARAMS = _param_shapes()
_MEMBERS = {
    **{name: ("U", ()) for name in ("format", "versions", "config", *(f"rng/{r}" for r in RNG_NAMES))},
    **{name: ("i", ()) for name in ("format_version", "iteration", "global_step", "adam/t")},
    **{name: ("f", ()) for name in ("wall_time", "obs_rms/count", "ret_rms/count", "ret_rms/mean", "ret_rms/var")},
    "obs_rms/mean": ("f", ("D",)),
    "obs_rms/var": ("f", ("D",)),
    "ret_rms/returns": ("f", ("N",)),
    "envs/next_obs": ("float", ("N", "D")),
    "envs/episode_return": ("f", ("N",)),
    "envs/episode_length": ("i", ("N",)),
    "envs/has_sim_state": ("b", ()),
    **{f"{group}/{name}": ("p", shape) for group in ("params", "adam/m", "adam/v") for name, shape in _PARAMS.items()},
}
# Each env's simulator state (envs/<i>/...): integration and derived.* arrays are
# float64 of any shape (the model decides; the byte budget bounds them).
_SIM_MEMBER = re.compile(r"envs/(0|[1-9][0-9]{0,8})/"
                         r"(integration|derived\.[A-Za-z_][A-Za-z0-9_]*|elapsed_steps|np_random)")
_SIM_KINDS = {"integration": ("f", None), "elapsed_steps": ("i", ()), "np_random": ("U", ())}  # else derived.*
_DTYPE_WORDS = {"U": "a unicode string", "i": "a signed integer", "f": "float64", "b": "bool", "float": "float",
                "p": "float64 or float32"}


def _dtype_fits(dtype, kind):
    if kind == "f":
        return dtype.kind == "f" and dtype.itemsize == 8
    if kind == "p":
        return dtype.kind == "f" and dtype.itemsize in (4, 8)
    if kind == "float":
        return dtype.kind == "f"
    return dtype.kind == kind


class _Expect:
    """The ``expect`` of :func:`ppo_ref.npzio.read_npz` for checkpoints: refuses,
    from its header alone, a member a checkpoint does not hold, one of another
    dtype, and one whose shape disagrees with the dimensions D, A, H and N bound by
    the members before it (in file order). Remembers the dimensions and the
    simulator-state members seen, for :func:`_check_complete`."""

    def __init__(self, path):
        self.path = path
        self.dims = {}  # "D" -> (size, the member that bound it)
        self.seen = set()
        self.sim = {}  # env index -> set of member suffixes

    def __call__(self, name, dtype, shape):
        sim = _SIM_MEMBER.fullmatch(name)
        if sim is not None:
            kind, want = _SIM_KINDS.get(sim[2], ("f", None))
            self.sim.setdefault(int(sim[1]), set()).add(sim[2])
        elif name in _MEMBERS:
            kind, want = _MEMBERS[name]
        elif "format" not in self.seen:
            raise CheckpointError(f"{self.path} is an .npz file but not a ppo_ref checkpoint")
        else:
            return f"is not a member of a ppo_ref checkpoint (format version {FORMAT_VERSION})"
        self.seen.add(name)
        if not _dtype_fits(dtype, kind):
            return f"has dtype {dtype}; a checkpoint holds it as {_DTYPE_WORDS[kind]}"
        if want is None:
            return None
        holds = f"a checkpoint holds it with shape {_shape_text(want)}"
        if len(shape) != len(want):
            return f"has shape {shape}; {holds}"
        for size, dim in zip(shape, want):
            if isinstance(dim, int):
                if size != dim:
                    return f"has shape {shape}; {holds}"
                continue
            bound, source = self.dims.setdefault(dim, (size, name))
            if bound != size:
                return (f"has shape {shape}, which makes {dim} ({_DIMS[dim]}) {size}, but {source} "
                        f"makes it {bound}; {holds}")
        return None


def _shape_text(dims):
    return "(" + ", ".join(map(str, dims)) + ("," if len(dims) == 1 else "") + ")"


def _check_complete(path, arrays, expect):
    """Refuse a checkpoint missing a member, whose N disagrees with its config's
    num_envs, or whose simulator states are not one complete set per env."""
    missing = [name for name in _MEMBERS if name not in arrays]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        them = "them" if len(missing) > 1 else "it"
        raise CheckpointError(f"{path}: member {missing[0]!r}{more} missing; a ppo_ref checkpoint holds {them}")
    try:
        config = from_json_array(arrays["config"])
        num_envs, dtype = config["num_envs"], config.get("dtype", "float64")
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise CheckpointError(f"{path}: member 'config' is not a JSON config with num_envs: {err}") from None
    if dtype not in DTYPES:
        raise CheckpointError(f"{path}: member 'config' has dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
    size = np.dtype(dtype).itemsize
    other = next((k for k in _MEMBERS if _MEMBERS[k][0] == "p" and arrays[k].dtype.itemsize != size), None)
    if other is not None:
        raise CheckpointError(f"{path}: member {other!r} has dtype {arrays[other].dtype}, but the checkpoint's "
                              f"config has dtype {dtype!r}")
    n, source = expect.dims["N"]
    if n != num_envs:
        raise CheckpointError(f"{path}: member {source!r} holds {n} envs, but the checkpoint's config has "
                              f"num_envs {num_envs!r}")
    has_sim = bool(arrays["envs/has_sim_state"])
    for i in sorted(expect.sim):
        if not has_sim or i >= n:
            first = next(k for k in arrays if k.startswith(f"envs/{i}/"))
            why = "has_sim_state is false" if not has_sim else f"N (num_envs) is {n}"
            raise CheckpointError(f"{path}: member {first!r} is the simulator state of env {i}, but {why}")
    if has_sim:
        for i in range(n):
            lacking = [s for s in _SIM_KINDS if s not in expect.sim.get(i, ())]
            if lacking:
                raise CheckpointError(f"{path}: member 'envs/{i}/{lacking[0]}' missing; "
                                      f"has_sim_state is true, so a ppo_ref checkpoint holds it")


def load_policy(path):
    """(config, params, frozen obs statistics) from a checkpoint or run directory."""
    arrays = load(path)
    cfg = Config.from_dict(from_json_array(arrays["config"]))
    return cfg, subdict(arrays, "params"), _rms(arrays, "obs_rms")


def _rms(arrays, prefix):
    return RunningMeanStd(arrays[f"{prefix}/mean"], arrays[f"{prefix}/var"], float(arrays[f"{prefix}/count"]))


def check_fits_env(params, env_id, observation_space, action_space):
    """Refuse parameters whose input and action sizes do not fit the env's spaces."""
    obs_dim, act_dim = params["pi.W0"].shape[0], params["log_std"].shape[0]
    if (obs_dim,) != observation_space.shape or (act_dim,) != action_space.shape:
        raise CheckpointError(
            f"checkpoint was trained on observations ({obs_dim},) and actions ({act_dim},), "
            f"but {env_id} has {observation_space.shape} and {action_space.shape}"
        )


def subdict(arrays, prefix):
    """The entries under ``prefix/``, with the prefix stripped."""
    n = len(prefix) + 1
    return {k[n:]: v for k, v in arrays.items() if k.startswith(prefix + "/")}


def prefixed(prefix, d):
    return {f"{prefix}/{k}": v for k, v in d.items()}


def state_to_arrays(cfg, state, sim_states):
    """Flatten a TrainState (and each env's simulator state) into checkpoint arrays."""
    arrays = {
        "config": json_array(cfg.to_dict()),
        "iteration": np.array(state.iteration),
        "global_step": np.array(state.global_step),
        "wall_time": np.array(state.wall_time),
        "adam/t": np.array(state.opt["t"]),
        "obs_rms/mean": state.obs_rms.mean,
        "obs_rms/var": state.obs_rms.var,
        "obs_rms/count": np.array(state.obs_rms.count),
        "ret_rms/mean": state.reward_scaler.rms.mean,
        "ret_rms/var": state.reward_scaler.rms.var,
        "ret_rms/count": np.array(state.reward_scaler.rms.count),
        "ret_rms/returns": state.reward_scaler.returns,
        "envs/next_obs": state.next_obs,
        "envs/episode_return": state.episode_return,
        "envs/episode_length": state.episode_length,
        "envs/has_sim_state": np.array(sim_states is not None),
    }
    arrays.update(prefixed("params", state.params))
    arrays.update(prefixed("adam/m", state.opt["m"]))
    arrays.update(prefixed("adam/v", state.opt["v"]))
    arrays.update({f"rng/{k}": json_array(g.bit_generator.state) for k, g in state.rngs.items()})
    for i, sim in enumerate(sim_states or ()):
        arrays.update(prefixed(f"envs/{i}", sim))
    return arrays


def state_from_arrays(arrays):
    """The inverse of :func:`state_to_arrays`: (config, TrainState, sim_states or None)."""
    cfg = Config.from_dict(from_json_array(arrays["config"]))
    rngs = {}
    for name in RNG_NAMES:
        g = np.random.Generator(np.random.PCG64())
        g.bit_generator.state = from_json_array(arrays[f"rng/{name}"])
        rngs[name] = g
    state = TrainState(
        params=subdict(arrays, "params"),
        opt={"m": subdict(arrays, "adam/m"), "v": subdict(arrays, "adam/v"), "t": int(arrays["adam/t"])},
        obs_rms=_rms(arrays, "obs_rms"),
        reward_scaler=RewardScaler(arrays["ret_rms/returns"], _rms(arrays, "ret_rms")),
        rngs=rngs,
        next_obs=arrays["envs/next_obs"],
        episode_return=arrays["envs/episode_return"],
        episode_length=arrays["envs/episode_length"],
        iteration=int(arrays["iteration"]),
        global_step=int(arrays["global_step"]),
        wall_time=float(arrays["wall_time"]),
    )
    sim_states = None
    if bool(arrays["envs/has_sim_state"]):
        sim_states = [subdict(arrays, f"envs/{i}") for i in range(cfg.num_envs)]
    return cfg, state, sim_states
