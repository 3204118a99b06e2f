"""The golden case ``iteration``: one whole training iteration, replayed without an env.

The trace (traces/hopper_iteration.npz) was recorded from a real run
(tests/iteration_trace.py: Hopper-v4 with a 15-step time limit, 2 envs x 64 steps,
iteration 2 of 3, so that both kinds of episode end occur in both envs, and the
Adam state, the statistics and the reward scaler's G are those a run carries):
the state before the rollout, what the envs returned at every step, the noise
the policy drew and the update's permutations. :func:`compute` replays it with
ppo_ref's own code: ``rollout.collect_rollout`` on envs that return the recorded
outputs and a generator that returns the recorded noise, then ``core.gae.gae``,
``update.learning_rate``, ``update.batch_of`` and
``update.update_with_permutations``, as ``train._loop`` runs them.
tests/test_golden_iteration.py records a fresh trace from ``train`` and checks
that its replay computes exactly what the run computed.

A port replays the same trace with its own rollout: normalise the observation it
acts on, sample with the given noise, clip the action for the env and keep the
unclipped one, merge the env's observations into the statistics (reset ones
included, final ones never), take V(final obs) at an episode end, scale the
rewards step by step, then GAE and the update. Every continuous-control detail of
docs/implementation_details.md that a rollout can get wrong moves an output.
"""

import os
from types import SimpleNamespace

import numpy as np

from ppo_ref.core.gae import gae
from ppo_ref.core.normalization import RewardScaler, RunningMeanStd
from ppo_ref.engines import REFERENCE
from ppo_ref.port.arrays import (INFO_MEANINGS, LOSS_OPTION_MEANINGS, GivenDraws, f64, loss_kwargs, named,
                                 param_meaning, sub)
from ppo_ref.rollout import collect_rollout
from ppo_ref.state import TrainState
from ppo_ref.update import LossOptions, batch_of, learning_rate, update_with_permutations

TRACE = "hopper_iteration.npz"
TRACE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "traces", TRACE)

INPUT_MEANINGS = {
    "t": "Adam steps taken before this iteration",
    "obs_rms/mean": "observation statistics before the rollout: running mean, (D,); they have merged next_obs",
    "obs_rms/var": "observation statistics before the rollout: running population variance, (D,)",
    "obs_rms/count": "observation statistics before the rollout: count (1e-4 + observations merged)",
    "reward_rms/mean": "statistics of the discounted return G before the rollout: running mean",
    "reward_rms/var": "statistics of G before the rollout: running population variance var_G",
    "reward_rms/count": "statistics of G before the rollout: count",
    "reward_G": "each env's discounted return G before the rollout, (N,)",
    "next_obs": "raw observations the agent acts on at the rollout's first step, (N, D)",
    "env/obs": "step t: the raw observations the vector env returned, (T, N, D); an env whose episode ended at t "
               "returned the first observation of its next episode (same-step autoreset)",
    "env/rewards": "step t: the raw rewards, (T, N)",
    "env/terminated": "step t: the episode terminated, (T, N)",
    "env/truncated": "step t: the episode was truncated by the time limit, (T, N)",
    "env/final_obs": "step t: where the episode ended, the observation it ended on (info['final_obs']); 0 "
                     "elsewhere, (T, N, D)",
    "noise": "step t: the standard-normal draws of the action, a = mu + sigma * noise, (T, N, A)",
    "action_low": "the action space's lower bounds (float32 values as float64), (A,)",
    "action_high": "the action space's upper bounds, (A,)",
    "permutations": "row e: the permutation of range(B) epoch e walks; batch row t * N + n is step t of env n, "
                    "(epochs, B)",
    "iteration": "k, this iteration's number, 1..K",
    "num_iterations": "K, the run's number of iterations",
    "learning_rate": "lr0, the learning rate of iteration 1",
    "anneal_lr": "anneal the learning rate: lr_k = (1 - (k - 1) / K) lr0 (SPEC 6.3)",
    "gamma": "discount factor (GAE and the reward scaler)",
    "gae_lambda": "GAE lambda",
    "bootstrap_truncation": "bootstrap truncated steps with V(final obs)",
    "max_grad_norm": "gradient-norm clipping threshold",
    "num_minibatches": "minibatches per epoch",
    "update_epochs": "epochs (target_kl off)",
}


GROUP_MEANINGS = {"params": "parameters before the iteration", "m": "Adam first moment before the iteration",
                  "v": "Adam second moment before the iteration"}


def _meaning(name):
    group, _, param = name.partition("/")
    if group in GROUP_MEANINGS:
        return f"{GROUP_MEANINGS[group]}: {param_meaning(param)}"
    return INPUT_MEANINGS.get(name) or LOSS_OPTION_MEANINGS[name]


def make_inputs(rng):
    """The trace's arrays (``rng`` is not used: the inputs were recorded)."""
    with np.load(TRACE_PATH, allow_pickle=False) as npz:
        return [(k, npz[k], _meaning(k)) for k in npz.files]


class _ReplayEnvs:
    """A vector env that returns the recorded step outputs in order, and keeps
    the actions it is sent."""

    def __init__(self, x):
        self.x, self.t, self.sent = x, 0, []
        self.single_action_space = SimpleNamespace(low=x["action_low"], high=x["action_high"])

    def step(self, action):
        t, x = self.t, self.x
        self.sent.append(np.array(action))
        self.t += 1
        return (x["env/obs"][t].copy(), x["env/rewards"][t].copy(), x["env/terminated"][t].copy(),
                x["env/truncated"][t].copy(), {"final_obs": x["env/final_obs"][t]})


def _as_in_a_run(params):
    """The parameters with each weight in the memory layout a run gives it: the
    transpose of a C-contiguous (out, in) array, as core.layers.orthogonal returns
    it and Adam's in-place steps keep it. BLAS sums a one-row product (V(final obs)
    of a single env that ended) in an order that depends on that layout, so a
    replay with C-contiguous weights could differ from the run in the last bit."""
    return {k: np.asfortranarray(p) if p.ndim == 2 else p for k, p in params.items()}


def _state(x):
    N = x["next_obs"].shape[0]
    return TrainState(
        params=_as_in_a_run(sub(x, "params")), opt={"m": sub(x, "m"), "v": sub(x, "v"), "t": int(x["t"])},
        obs_rms=RunningMeanStd(x["obs_rms/mean"].copy(), x["obs_rms/var"].copy(), x["obs_rms/count"].item()),
        reward_scaler=RewardScaler(x["reward_G"].copy(), RunningMeanStd(
            x["reward_rms/mean"].copy(), x["reward_rms/var"].copy(), x["reward_rms/count"].item())),
        rngs={"policy": GivenDraws(x["noise"])}, next_obs=x["next_obs"].copy(),
        episode_return=np.zeros(N), episode_length=np.zeros(N, dtype=np.int64))


def compute(x):
    T, N = x["env/rewards"].shape
    state, envs = _state(x), _ReplayEnvs(x)
    gamma = x["gamma"].item()
    rollout, _ = collect_rollout(SimpleNamespace(num_steps=T, num_envs=N, gamma=gamma), envs, state, REFERENCE)
    obs_rms, scaler = state.obs_rms, state.reward_scaler
    advantages, returns = gae(rollout["rewards"], rollout["values_old"], rollout["next_values"],
                              rollout["terminated"], rollout["truncated"], gamma, x["gae_lambda"].item(),
                              bool(x["bootstrap_truncation"]))
    lr = learning_rate(int(x["iteration"]), int(x["num_iterations"]), x["learning_rate"].item(), bool(x["anneal_lr"]))
    B = T * N
    info = update_with_permutations(state.params, state.opt, batch_of(rollout, advantages, returns), lr,
                                    x["permutations"], REFERENCE,
                                    LossOptions(**loss_kwargs(x)),
                                    B // int(x["num_minibatches"]), x["max_grad_norm"].item())
    stat = ("running mean", "running population variance", "count")
    return ([("rollout/obs", rollout["obs"], "step t: the normalised observation acted on, "
                                             "clip((obs - mean) / sqrt(var + 1e-8), -10, 10), (T, N, D)"),
             ("rollout/actions", rollout["actions"], "step t: the unclipped sampled action, mu + sigma * noise, "
                                                     "(T, N, A): what the buffer keeps"),
             ("rollout/actions_sent", np.stack(envs.sent), "step t: the action sent to the env, clipped to "
                                                            "[action_low, action_high], (T, N, A)"),
             ("rollout/logprobs_old", rollout["logprobs_old"], "step t: log-prob of the unclipped action, (T, N)"),
             ("rollout/values_old", rollout["values_old"], "step t: V(normalised observation), (T, N)"),
             ("rollout/next_values", rollout["next_values"], "step t: V(s_{t+1}) of the true next state: at an "
                                                             "episode end V(final obs) normalised with the "
                                                             "statistics after step t's merge; else the next "
                                                             "step's value, after the last step V(next obs), "
                                                             "(T, N)")]
            + [(f"obs_rms_after/{k}", np.asarray(getattr(obs_rms, k)),
                f"observation statistics after the rollout: {what}") for k, what in zip(("mean", "var", "count"), stat)]
            + [("rollout/rewards", rollout["rewards"], "step t: the scaled reward clip(r / sqrt(var_G + 1e-8), "
                                                       "-10, 10), var_G after merging step t's G, (T, N)")]
            + [(f"reward_rms_after/{k}", np.asarray(getattr(scaler.rms, k)),
                f"statistics of G after the rollout: {what}") for k, what in zip(("mean", "var", "count"), stat)]
            + [("reward_G_after", scaler.returns, "each env's G after the rollout (0 where its episode ended at "
                                                  "the last step), (N,)"),
               ("advantages", advantages, "GAE advantages A_t, (T, N)"),
               ("returns", returns, "R_t = A_t + v_t, (T, N)"),
               ("lr", f64(lr), "the learning rate of iteration k")]
            + named("params_after", state.params, "parameters after the update")
            + named("m_after", state.opt["m"], "Adam first moment after the update")
            + named("v_after", state.opt["v"], "Adam second moment after the update")
            + [("t_after", np.array(state.opt["t"], dtype=np.int64), "Adam steps taken after the update")]
            + [(f"info/{k}", f64(v), f"{INFO_MEANINGS[k]}, averaged over the minibatches") for k, v in info.items()])


FLOAT64_IN_FLOAT32 = ("reward_rms_after/", "reward_G_after")
"""What a float32 run computes in float64 (SPEC 0.4): the reward scaler, which
scales the env's float64 rewards."""

DESCRIPTION = ("One whole training iteration without an env (SPEC 2.2, 3, 4, 5, 6): the rollout replayed from a trace "
               "of a real Hopper-v4 run (2 envs x 64 steps, a 15-step time limit: terminations and truncations in "
               "both envs) with the recorded env outputs and noise, the reward scaling, GAE, the learning rate "
               "and the update with the recorded permutations.")
