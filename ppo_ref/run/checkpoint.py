"""Checkpoints: one ``.npz`` of plain arrays (no pickle, so loading never runs code).

A checkpoint holds everything needed to continue a run bit for bit or to evaluate
it (SPEC 8): parameters, Adam state, normaliser statistics, iteration and step
counters, every generator's state, the config, the library versions, and each
env's simulator state with the episode in progress.

Files are written atomically: to a temporary file in the same directory, flushed
and fsynced, then renamed over the old one, so a crash during a write leaves the
previous checkpoint intact.
"""

import json
import os
import platform
import zipfile

import numpy as np

from ppo_ref import __version__
from ppo_ref.config import Config
from ppo_ref.core.normalization import RewardScaler, RunningMeanStd
from ppo_ref.state import RNG_NAMES, TrainState

FORMAT = "ppo_ref-checkpoint"
FORMAT_VERSION = 1
CHECKPOINT_NAME = "checkpoint.npz"


class CheckpointError(ValueError):
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


def json_array(obj):
    """A JSON document stored as a 0-d unicode array (loadable without pickle)."""
    return np.array(json.dumps(obj))


def from_json_array(arr):
    return json.loads(str(arr))


def write_npz_atomic(path, arrays):
    """Write ``arrays`` to ``path`` via a fsynced temporary file and a rename."""
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    dir_fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save(path, arrays):
    """Save a checkpoint: ``arrays`` plus the format tag, version and library versions."""
    out = {
        "format": np.array(FORMAT),
        "format_version": np.array(FORMAT_VERSION),
        "versions": json_array(library_versions()),
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
    files, files that are not ppo_ref checkpoints and other format versions."""
    path = resolve(path)
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a ppo_ref checkpoint: not an .npz (zip) file, or a truncated one")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError) as err:
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or not an .npz file): {err}") from None
    if "format" not in arrays or str(arrays["format"]) != FORMAT:
        raise CheckpointError(f"{path} is an .npz file but not a ppo_ref checkpoint")
    version = int(arrays["format_version"])
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {version}; this ppo_ref reads version {FORMAT_VERSION}"
        )
    return arrays


def load_policy(path):
    """(config, params, frozen obs statistics) from a checkpoint or run directory."""
    arrays = load(path)
    cfg = Config(**from_json_array(arrays["config"]))
    params = subdict(arrays, "params")
    obs_rms = RunningMeanStd(arrays["obs_rms/mean"], arrays["obs_rms/var"], float(arrays["obs_rms/count"]))
    return cfg, params, obs_rms


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
    cfg = Config(**from_json_array(arrays["config"]))
    rngs = {}
    for name in RNG_NAMES:
        g = np.random.Generator(np.random.PCG64())
        g.bit_generator.state = from_json_array(arrays[f"rng/{name}"])
        rngs[name] = g
    state = TrainState(
        params=subdict(arrays, "params"),
        opt={"m": subdict(arrays, "adam/m"), "v": subdict(arrays, "adam/v"), "t": int(arrays["adam/t"])},
        obs_rms=RunningMeanStd(arrays["obs_rms/mean"], arrays["obs_rms/var"], float(arrays["obs_rms/count"])),
        reward_scaler=RewardScaler(
            arrays["ret_rms/returns"],
            RunningMeanStd(arrays["ret_rms/mean"], arrays["ret_rms/var"], float(arrays["ret_rms/count"])),
        ),
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
