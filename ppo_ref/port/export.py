"""Export trained parameters as a PyTorch state dict of CleanRL's ``Agent``
(``ppo_continuous_action.py``), as plain numpy arrays in an ``.npz``.

CleanRL's agent is ``critic = Sequential(Linear(D, 64), Tanh, Linear(64, 64), Tanh,
Linear(64, 1))``, ``actor_mean`` the same with A outputs, and ``actor_logstd`` a
(1, A) parameter; the Linear layers sit at Sequential indices 0, 2, 4. An
``nn.Linear`` holds ``weight`` as (out, in) and computes ``x @ weight.T + bias``,
while ppo_ref's W is (in, out), so:

    actor_mean.{2i}.weight = pi.W{i}.T    actor_mean.{2i}.bias = pi.b{i}
    critic.{2i}.weight     = v.W{i}.T     critic.{2i}.bias     = v.b{i}
    actor_logstd           = log_std[None, :]                       (1, A)

Beside them, the observation normaliser's frozen statistics (SPEC 3), which
CleanRL keeps in gymnasium's ``NormalizeObservation`` wrapper:

    obs_rms.mean (D,)  obs_rms.var (D,)  obs_rms.count ()
    obs_rms.clip ()    = 10: the normalised observation is clipped to [-10, 10]
    obs_rms.epsilon () = 1e-8: obs_n = clip((obs - mean) / sqrt(var + 1e-8), -10, 10)

Keys are in the order of ``Agent().state_dict()`` (checked with torch 2.13.0 on
CleanRL's class): a module's own parameters come before its submodules', so
``actor_logstd`` first, then ``critic.*`` (assigned before ``actor_mean``), then
``actor_mean.*``; then the ``obs_rms.*`` statistics. Arrays are float64 (the
parameters float32 for a run trained with ``--dtype float32``).

Loading in PyTorch (docs/porting.md, "Exporting to PyTorch"): set the dtype first,
or the float64 arrays are copied into float32 parameters; then normalise each raw
observation with the exported statistics, in float64, as ``ppo-ref eval`` does:

    torch.set_default_dtype(torch.float64)       # before building Agent
    agent = Agent(envs)
    f = numpy.load("agent.npz")
    agent.load_state_dict({k: torch.from_numpy(f[k]) for k in f.files if not k.startswith("obs_rms.")})
    x = numpy.clip((obs - f["obs_rms.mean"]) / numpy.sqrt(f["obs_rms.var"] + f["obs_rms.epsilon"]),
                   -f["obs_rms.clip"], f["obs_rms.clip"])
    mu = agent.actor_mean(torch.from_numpy(x))   # deterministic action, before clipping to the bounds

The exported policy then chooses ``ppo-ref eval``'s actions on the same
observations (tests/test_export.py checks it in numpy, in CleanRL's layout).
``export_torch`` refuses to replace an existing file unless ``force``
(``ppo-ref export-torch --force``).
"""

import os

import numpy as np

from ppo_ref.npzio import write_npz_atomic
from ppo_ref.run import checkpoint as ckpt
from ppo_ref.core.mlp import layer_names, num_layers
from ppo_ref.core.normalization import NORM_EPS, OBS_CLIP

# Agent().state_dict() order: actor_logstd (the Agent's own parameter), then its
# submodules as assigned in __init__, critic before actor_mean.
TORCH_MODULES = (("critic", "v"), ("actor_mean", "pi"))
CLEANRL_LINEAR_LAYERS = 3


def torch_state_dict(params):
    """ppo_ref parameters -> CleanRL Agent state dict (name -> numpy array)."""
    out = {"actor_logstd": params["log_std"][None, :].copy()}  # (1, A)
    for module, prefix in TORCH_MODULES:
        n = num_layers(params, prefix)
        if n != CLEANRL_LINEAR_LAYERS:
            raise ckpt.CheckpointError(f"the {prefix} network has {n} linear layers; CleanRL's Agent has "
                                       f"{CLEANRL_LINEAR_LAYERS} (two hidden layers)")
        for i in range(n):
            w, b = layer_names(prefix, i)
            out[f"{module}.{2 * i}.weight"] = params[w].T.copy()  # (out, in)
            out[f"{module}.{2 * i}.bias"] = params[b].copy()
    return out


def export_torch(checkpoint, out_path, force=False):
    """Write the CleanRL state dict and obs statistics of a checkpoint (or run
    directory) to ``out_path``; returns the arrays written. An existing
    ``out_path`` is left untouched (FileExistsError) unless ``force``."""
    if os.path.isdir(out_path):
        raise IsADirectoryError(f"{out_path} is a folder; name the .npz file to write")
    if not force and os.path.lexists(out_path):
        raise FileExistsError(f"{out_path} already exists; pass --force to overwrite it")
    _, params, obs_rms = ckpt.load_policy(checkpoint)
    arrays = torch_state_dict(params)
    arrays.update({
        "obs_rms.mean": obs_rms.mean,
        "obs_rms.var": obs_rms.var,
        "obs_rms.count": np.array(obs_rms.count),
        "obs_rms.clip": np.array(OBS_CLIP),
        "obs_rms.epsilon": np.array(NORM_EPS),
    })
    write_npz_atomic(out_path, arrays)
    return arrays
