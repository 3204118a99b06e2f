"""The golden cases: for each, how its inputs are drawn and which call of ppo_ref
computes its outputs, with the meaning of every array (see :mod:`ppo_ref.port.golden`).

    gaussian          log-prob, entropy and their gradients, KL, sampling from given noise (SPEC 2)
    gae_bootstrap     GAE of a (T, N) rollout with terminations and truncations (SPEC 4)
    gae_no_bootstrap  the same rollout with bootstrap_truncation off
    ppo_loss          the loss, every parameter gradient and the diagnostics (SPEC 5)
    adam_step         one global-norm clip and Adam step (SPEC 6)
    ppo_update        3 epochs of 4 minibatches with given permutations (SPEC 6)
    ppo_loss_kinks    the loss with samples exactly on its kinks (SPEC 5.3 to 5.5, port/kinks.py)
    ppo_update_kinks  an update whose first minibatch is on those kinks
    init              the orthogonal initialisation from given draws (SPEC 1.4)
    normalization     running statistics merged batch by batch, observations normalised (SPEC 3.1, 3.2)
    lr_schedule       the learning rate of every iteration, annealed and not (SPEC 6.3)
    reward_scaling    rewards of several envs scaled step by step (SPEC 3.3)
    iteration         a whole iteration replayed from a recorded trace (port/iteration.py)

Agent parameters have the real architecture (D -> 64 -> 64 -> out, D = 5, A = 3)
so that a port can load them into its own agent.
"""

import numpy as np

from ppo_ref.core.agent import HIDDEN_GAIN, POLICY_OUTPUT_GAIN, VALUE_OUTPUT_GAIN, grad_norm_order, init_params
from ppo_ref.core.distributions import entropy, kl, log_prob, log_prob_grads, sample
from ppo_ref.core.gae import gae
from ppo_ref.core.losses import ppo_loss
from ppo_ref.core.mlp import HIDDEN
from ppo_ref.core.normalization import (RewardScaler, RunningMeanStd, normalize_obs, rms_init, rms_update,
                                       scale_reward)
from ppo_ref.core.optim import adam_step, clip_grad_norm
from ppo_ref.engines import REFERENCE
from ppo_ref.port.arrays import (ACT_DIM, INFO_MEANINGS, LOSS_CONFIG, LOSS_OPTION_MEANINGS, OBS_DIM, Case,  # noqa: F401
                                 GivenDraws, draw_adam_state, draw_batch, draw_params, f64, loss_kwargs, loss_options,
                                 named, sub)
from ppo_ref.port import iteration
from ppo_ref.port.kinks import KINK_CLIP_COEF, KINK_ROWS, kink_minibatch, kink_params
from ppo_ref.update import LossOptions, learning_rate, update_with_permutations


def _gaussian_inputs(rng):
    mu = rng.normal(0.0, 1.0, (6, ACT_DIM))
    log_std = rng.uniform(-1.0, 0.5, ACT_DIM)
    actions = mu + np.exp(log_std) * rng.normal(0.0, 1.5, mu.shape)
    return [("mu", mu, "means, (M, A)"), ("log_std", log_std, "log standard deviations, (A,)"),
            ("actions", actions, "actions a, (M, A)"),
            ("mu_q", mu + rng.normal(0.0, 0.5, mu.shape), "means of a second Gaussian q, (M, A)"),
            ("log_std_q", log_std + rng.uniform(-0.5, 0.5, ACT_DIM), "log standard deviations of q, (A,)"),
            ("noise", rng.standard_normal(mu.shape), "standard-normal draws for sampling, (M, A)")]


def _gaussian_outputs(x):
    a, mu, log_std = x["actions"], x["mu"], x["log_std"]
    dmu, dlog_std = log_prob_grads(a, mu, log_std)
    return [
        ("log_prob", log_prob(a, mu, log_std), "sum_i [-(a_i - mu_i)^2 / (2 sigma_i^2) - log_std_i - 0.5 log(2 pi)], "
                                               "(M,)"),
        ("entropy", f64(entropy(log_std)), "sum_i [log_std_i + 0.5 (1 + log(2 pi))]"),
        ("grad_mu", dmu, "row m: d log_prob[m] / d mu[m] = (a - mu) / sigma^2, (M, A)"),
        ("grad_log_std", dlog_std, "row m: d log_prob[m] / d log_std = (a - mu)^2 / sigma^2 - 1, (M, A); "
                                   "one row per sample, not summed"),
        # distributions.entropy: d entropy / d log_std_i = 1 (and 0 for mu).
        ("entropy_grad_log_std", np.ones_like(log_std), "d entropy / d log_std, (A,)"),
        ("kl", kl(mu, log_std, x["mu_q"], x["log_std_q"]), "KL(p || q) of p = N(mu, sigma^2) and q = N(mu_q, "
                                                            "sigma_q^2): sum_i [log_std_q - log_std + (sigma^2 + "
                                                            "(mu - mu_q)^2) / (2 sigma_q^2) - 0.5], (M,)"),
        ("sample", sample(GivenDraws([x["noise"]]), mu, log_std), "a = mu + sigma * noise, (M, A)"),
    ]


GAE_T, GAE_N = 8, 3
# (t, env) of the episode ends. Env 0: termination, truncation, rollout end.
# Env 1: terminated and truncated at once (a time limit on the terminal step),
# truncation at the last step. Env 2: termination at the first and the last step.
GAE_TERMINATED = ((2, 0), (4, 1), (0, 2), (7, 2))
GAE_TRUNCATED = ((5, 0), (4, 1), (7, 1))


def _gae_inputs(bootstrap_truncation):
    def make(rng):
        terminated = np.zeros((GAE_T, GAE_N), dtype=bool)
        truncated = np.zeros((GAE_T, GAE_N), dtype=bool)
        terminated[tuple(zip(*GAE_TERMINATED))] = True
        truncated[tuple(zip(*GAE_TRUNCATED))] = True
        values = rng.normal(0.0, 1.0, (GAE_T, GAE_N))
        # v'_t = v_{t+1} within an episode; at an episode end (the final
        # observation) and after the rollout's last step, a value of its own.
        next_values = np.concatenate([values[1:], rng.normal(0.0, 1.0, (1, GAE_N))])
        done = terminated | truncated
        next_values[done] = rng.normal(0.0, 1.0, int(done.sum()))
        return [
            ("rewards", rng.normal(0.0, 1.0, (GAE_T, GAE_N)), "rewards r_t, (T, N)"),
            ("values", values, "v_t = V(s_t), (T, N)"),
            ("next_values", next_values, "v'_t = V(s_{t+1}), s_{t+1} the true next state, (T, N)"),
            ("terminated", terminated, "episode terminated at step t, (T, N)"),
            ("truncated", truncated, "episode truncated (time limit) at step t, (T, N)"),
            ("gamma", f64(0.99), "discount factor"),
            ("lam", f64(0.95), "GAE lambda"),
            ("bootstrap_truncation", np.array(bootstrap_truncation), "bootstrap truncated steps with v'"),
        ]
    return make


def _gae_outputs(x):
    adv, ret = gae(x["rewards"], x["values"], x["next_values"], x["terminated"], x["truncated"],
                   float(x["gamma"]), float(x["lam"]), bool(x["bootstrap_truncation"]))
    return [("advantages", adv, "A_t, (T, N)"), ("returns", ret, "R_t = A_t + v_t, (T, N)")]


def _loss_inputs(rng):
    params = draw_params(rng)
    b = draw_batch(rng, params, 8, "M")
    return (named("params", params, "parameters")
            + [(k, arr, meaning) for k, (arr, meaning) in b.items()]
            + loss_options())


def _loss_outputs(x):
    loss, grads, info = ppo_loss(
        sub(x, "params"), x["obs"], x["actions"], x["logprobs_old"], x["advantages"], x["returns"],
        x["values_old"], **loss_kwargs(x))
    return ([("loss", f64(loss), "L = L_pi - ent_coef * mean(entropy) + vf_coef * L_v")]
            + named("grads", grads, "dL/dparam")
            + [(f"info/{k}", f64(v), INFO_MEANINGS[k]) for k, v in info.items()])


def _adam_inputs(rng):
    params = draw_params(rng)
    grads = {k: rng.normal(0.0, 0.05, p.shape) for k, p in params.items()}
    m, v = draw_adam_state(rng, params)
    return (named("params", params, "parameters") + named("grads", grads, "gradient before clipping")
            + named("m", m, "Adam first moment") + named("v", v, "Adam second moment")
            + [("t", np.array(9, dtype=np.int64), "Adam steps taken so far"),
               ("lr", f64(3e-4), "learning rate"), ("max_grad_norm", f64(0.5), "gradient-norm clipping threshold")])


def _adam_outputs(x):
    params, state = sub(x, "params"), {"m": sub(x, "m"), "v": sub(x, "v"), "t": int(x["t"])}
    grads = sub(x, "grads")
    # The norm sums in grad_norm_order, as update.update_with_permutations does.
    clipped, norm = clip_grad_norm(grads, float(x["max_grad_norm"]), grad_norm_order(grads))
    adam_step(params, clipped, state, float(x["lr"]))
    return ([("grad_norm", f64(norm), INFO_MEANINGS["grad_norm"])]
            + named("clipped_grads", clipped, "gradient after clipping")
            + named("params_after", params, "parameters after the step")
            + named("m_after", state["m"], "Adam first moment after the step")
            + named("v_after", state["v"], "Adam second moment after the step")
            + [("t_after", np.array(state["t"], dtype=np.int64), "Adam steps taken, t + 1")])


UPDATE_BATCH, UPDATE_MINIBATCHES, UPDATE_EPOCHS = 32, 4, 3


def _update_rows(params, params_meaning, m, v, batch, batch_note, perms, minibatches, options):
    """An update case's inputs, in index order: the parameters, Adam's state after 24
    steps, the batch (each meaning followed by ``batch_note``), the permutations, the
    update's settings and the loss's ``options`` (loss_options)."""
    return (named("params", params, params_meaning) + named("m", m, "Adam first moment")
            + named("v", v, "Adam second moment")
            + [("t", np.array(24, dtype=np.int64), "Adam steps taken so far")]
            + [(f"batch/{k}", arr, meaning + batch_note) for k, (arr, meaning) in batch.items()]
            + [("permutations", perms, "row e: the permutation of range(B) epoch e walks, (epochs, B)"),
               ("lr", f64(3e-4), "learning rate"),
               ("max_grad_norm", f64(0.5), "gradient-norm clipping threshold"),
               ("num_minibatches", np.array(minibatches, dtype=np.int64), "minibatches per epoch"),
               ("update_epochs", np.array(perms.shape[0], dtype=np.int64), "epochs (target_kl off)")]
            + options)


def _update_inputs(rng):
    params = draw_params(rng)
    m, v = draw_adam_state(rng, params)
    batch = draw_batch(rng, params, UPDATE_BATCH, "B")
    perms = np.stack([rng.permutation(UPDATE_BATCH) for _ in range(UPDATE_EPOCHS)]).astype(np.int64)
    return _update_rows(params, "parameters", m, v, batch, "", perms, UPDATE_MINIBATCHES, loss_options())


def _update_outputs(x):
    perms = x["permutations"]
    B, epochs, minibatches = x["batch/obs"].shape[0], int(x["update_epochs"]), int(x["num_minibatches"])
    if perms.shape != (epochs, B):
        raise ValueError(f"permutations must have shape (update_epochs, B) = {(epochs, B)}, got {perms.shape}")
    if minibatches < 1 or B % minibatches:
        raise ValueError(f"num_minibatches ({minibatches}) must divide the batch size B ({B})")
    params, opt = sub(x, "params"), {"m": sub(x, "m"), "v": sub(x, "v"), "t": int(x["t"])}
    info = update_with_permutations(params, opt, sub(x, "batch"), float(x["lr"]), perms, REFERENCE,
                                    LossOptions(**loss_kwargs(x)), B // minibatches,
                                    float(x["max_grad_norm"]))
    return (named("params_after", params, "parameters after the update")
            + named("m_after", opt["m"], "Adam first moment after the update")
            + named("v_after", opt["v"], "Adam second moment after the update")
            + [("t_after", np.array(opt["t"], dtype=np.int64), "Adam steps taken, t + epochs * num_minibatches")]
            + [(f"info/{k}", f64(v), f"{INFO_MEANINGS[k]}, averaged over the minibatches") for k, v in info.items()])


KINK_TABLE = ("row 0: ratio exactly 1 - clip_coef, advantage 2; 1: ratio exactly 1 + clip_coef, advantage -1; "
              "2, 3: ordinary samples; 4: advantage exactly 0 (norm_adv off: the advantages are used as given); "
              "5: v - v_old exactly "
              "+clip_coef (so v_c == v: the value loss's max ties); 6: v - v_old exactly -clip_coef; 7: |v - v_old| "
              "> clip_coef and (v - R)^2 == (v_c - R)^2, a tie outside the clip range (the ratios exact in the "
              "reference core's float64 computation, the value kinks in any precision: ppo_ref/port/kinks.py)")


def _kink_batch(rng, params, obs_rows, size, kink_rows):
    """draw_batch's batch of ``obs_rows`` samples, with the rows ``kink_rows`` put on
    the kinks of KINK_TABLE (kinks.kink_minibatch) for a loss computed on exactly
    those rows, in that order."""
    batch = draw_batch(rng, params, obs_rows, size)
    names = ("actions", "logprobs_old", "values_old", "advantages", "returns")
    given = [batch[k][0][kink_rows] for k in ("actions", "logprobs_old", "values_old", "returns")]
    for name, rows in zip(names, kink_minibatch(rng, params, batch["obs"][0][kink_rows], *given)):
        batch[name][0][kink_rows] = rows
    return batch


def _loss_kinks_inputs(rng):
    params = kink_params(rng, draw_params(rng))
    b = _kink_batch(rng, params, KINK_ROWS, "M", np.arange(KINK_ROWS))
    return (named("params", params, "parameters (the value network's output layer zero, its bias dyadic)")
            + [(k, arr, f"{meaning}; {KINK_TABLE}") for k, (arr, meaning) in b.items()]
            + loss_options(clip_coef=KINK_CLIP_COEF, norm_adv=False))


def _without_clipfrac(compute):
    """A kink case's outputs: ``compute``'s without info/clipfrac, which counts
    |rho - 1| > eps: a ratio exactly on 1 +- eps counts as not clipped, and a port
    whose exp lands one ulp outside counts it; the gradient there is the same on
    both sides (kinks.py), the count is not."""
    def outputs(x):
        return [row for row in compute(x) if row[0] != "info/clipfrac"]
    return outputs


KINK_UPDATE_BATCH, KINK_UPDATE_EPOCHS = 2 * KINK_ROWS, 1  # one epoch: the kink rows are visited once, on their kinks


def _update_kinks_inputs(rng):
    params = kink_params(rng, draw_params(rng))
    m, v = draw_adam_state(rng, params)
    perms = np.stack([rng.permutation(KINK_UPDATE_BATCH) for _ in range(KINK_UPDATE_EPOCHS)]).astype(np.int64)
    batch = _kink_batch(rng, params, KINK_UPDATE_BATCH, "B", perms[0, :KINK_ROWS])
    where = f"; the rows permutations[0, :{KINK_ROWS}], the first minibatch, in that order: {KINK_TABLE}"
    return _update_rows(params, "parameters (the value network's output layer zero, its bias dyadic)", m, v, batch,
                        where, perms, KINK_UPDATE_BATCH // KINK_ROWS,
                        loss_options(clip_coef=KINK_CLIP_COEF, norm_adv=False))


INIT_GAINS = (("gain/hidden", HIDDEN_GAIN, "gain of the hidden layers W0, W1 of both networks (sqrt(2))"),
              ("gain/pi_output", POLICY_OUTPUT_GAIN, "gain of the policy's output layer pi.W2"),
              ("gain/v_output", VALUE_OUTPUT_GAIN, "gain of the value's output layer v.W2"))
INIT_WEIGHTS = ("pi.W0", "pi.W1", "pi.W2", "v.W0", "v.W1", "v.W2")  # the order SPEC 1.4 draws them in


def _init_shapes():
    sizes = {"pi": (OBS_DIM, *HIDDEN, ACT_DIM), "v": (OBS_DIM, *HIDDEN, 1)}
    return {f"{net}.W{i}": (s[i + 1], s[i]) for net, s in sizes.items() for i in range(len(s) - 1)}


def _init_inputs(rng):
    shapes = _init_shapes()
    return ([(f"draws/{w}", rng.standard_normal(shapes[w]), f"G ~ N(0, 1) for {w}, in torch's (out, in) shape "
                                                            f"{shapes[w]}: the draw SPEC 1.4 makes for it")
             for w in INIT_WEIGHTS]
            + [(name, f64(gain), meaning) for name, gain, meaning in INIT_GAINS])


def _init_outputs(x):
    for name, gain, _ in INIT_GAINS:
        if x[name] != np.asarray(gain, dtype=x[name].dtype):  # the gain, rounded for a float32 computation
            raise ValueError(f"{name} must be ppo_ref's gain {gain}, got {float(x[name])}")
    params = init_params(GivenDraws(x[f"draws/{w}"] for w in INIT_WEIGHTS), OBS_DIM, ACT_DIM)
    return named("params", params, "parameters after the orthogonal initialisation (weights (in, out), biases 0, "
                                   "log_std 0)")


NORM_BATCH_SIZES = (1, 3, 1, 2, 4)  # one-row and multi-row merges


def _normalization_inputs(rng):
    rms = rms_init((OBS_DIM,))
    batches = rng.normal(rng.uniform(-3.0, 3.0, OBS_DIM), rng.uniform(0.1, 4.0, OBS_DIM),
                         (sum(NORM_BATCH_SIZES), OBS_DIM))
    # Observations 0, 1.5, 3, ..., 15 standard deviations of the batches from their mean, of both signs: some
    # normalise beyond 5, some beyond 10 (clipped).
    spread = np.linspace(-15.0, 15.0, 11)[:, None] * batches.std(axis=0) + batches.mean(axis=0)
    return [("mean", rms.mean, "running mean before the merges, (D,)"),
            ("var", rms.var, "running population variance before the merges, (D,)"),
            ("count", f64(rms.count), "count before the merges (1e-4, gymnasium's prior)"),
            ("batches", batches, "the merged observations, the batches one after the other, (sum of batch_sizes, D)"),
            ("batch_sizes", np.array(NORM_BATCH_SIZES, dtype=np.int64), "rows of each batch, merged in order, (K,)"),
            ("obs", spread + rng.normal(0.0, 0.1, spread.shape), "observations to normalise with the statistics "
                                                                  "after the last merge, (M, D)")]


def _normalization_outputs(x):
    rms = RunningMeanStd(x["mean"].copy(), x["var"].copy(), float(x["count"]))
    rows = np.cumsum(np.concatenate([[0], x["batch_sizes"]]))
    after = []
    for start, stop in zip(rows[:-1], rows[1:]):
        rms = rms_update(rms, x["batches"][start:stop])
        after.append(rms)
    return [("mean_after", np.stack([r.mean for r in after]), "row k: the running mean after merging batch k, (K, D)"),
            ("var_after", np.stack([r.var for r in after]), "row k: the running variance after merging batch k, "
                                                            "(K, D)"),
            ("count_after", np.array([r.count for r in after]), "entry k: the count after merging batch k, (K,)"),
            ("normalized", normalize_obs(x["obs"], rms), "clip((obs - mean) / sqrt(var + 1e-8), -10, 10) with the "
                                                         "statistics after the last merge, (M, D)")]


LR_ITERATIONS = 7


def _lr_inputs(rng):
    return [("num_iterations", np.array(LR_ITERATIONS, dtype=np.int64), "K, the run's number of iterations"),
            ("learning_rate", f64(3e-4), "lr0, the learning rate of iteration 1")]


def _lr_outputs(x):
    K, lr0 = int(x["num_iterations"]), x["learning_rate"].item()
    return [(f"lr_{kind}", np.array([learning_rate(k, K, lr0, anneal) for k in range(1, K + 1)]),
             f"entry k - 1: the learning rate of iteration k = 1..K, {meaning}, (K,)")
            for kind, anneal, meaning in (("annealed", True, "annealed, (1 - (k - 1) / K) lr0"),
                                          ("constant", False, "not annealed, lr0"))]


RS_T, RS_N = 12, 3
# (t, env) of the episode ends: env 0 terminates then is truncated, env 1 the other way round, env 2 both at once.
RS_TERMINATED = ((3, 0), (9, 1), (6, 2))
RS_TRUNCATED = ((8, 0), (2, 1), (6, 2))


def _reward_scaling_inputs(rng):
    terminated = np.zeros((RS_T, RS_N), dtype=bool)
    truncated = np.zeros((RS_T, RS_N), dtype=bool)
    terminated[tuple(zip(*RS_TERMINATED))] = True
    truncated[tuple(zip(*RS_TRUNCATED))] = True
    return [("rewards", rng.normal(0.5, 1.0, (RS_T, RS_N)), "raw rewards r_t, (T, N)"),
            ("terminated", terminated, "episode terminated at step t, (T, N)"),
            ("truncated", truncated, "episode truncated at step t, (T, N)"),
            ("G", rng.normal(0.0, 2.0, RS_N), "each env's discounted return G before step 0, (N,)"),
            ("mean", f64(0.5), "running mean of G before step 0"),
            ("var", f64(2.0), "running population variance var_G before step 0"),
            ("count", f64(37.0001), "count of the statistics of G before step 0"),
            ("gamma", f64(0.99), "discount factor")]


def _reward_scaling_outputs(x):
    scaler = RewardScaler(x["G"].copy(), RunningMeanStd(x["mean"].copy(), x["var"].copy(), float(x["count"])))
    done = x["terminated"] | x["truncated"]
    steps = []
    for t in range(done.shape[0]):
        scaled, scaler = scale_reward(scaler, x["rewards"][t], done[t], x["gamma"].item())
        steps.append((scaled, scaler))
    return [("scaled", np.stack([s for s, _ in steps]), "step t: clip(r_t / sqrt(var_G + 1e-8), -10, 10), var_G "
                                                        "after merging step t's N values of G, (T, N)"),
            ("G_after", np.stack([sc.returns for _, sc in steps]), "step t: each env's G after step t: "
                                                                   "r_t + gamma G, then 0 where the episode ended "
                                                                   "(terminated or truncated), (T, N)"),
            ("mean_after", np.array([sc.rms.mean for _, sc in steps]), "step t: the running mean of G, (T,)"),
            ("var_after", np.array([sc.rms.var for _, sc in steps]), "step t: the running variance of G, (T,)"),
            ("count_after", np.array([sc.rms.count for _, sc in steps]), "step t: the count, (T,)")]

CASES = (
    Case("gaussian", 1, "Diagonal Gaussian log-prob, entropy and their gradients, the KL and sampling from given "
                        "noise (SPEC 2).",
         _gaussian_inputs, _gaussian_outputs, exact=False),
    Case("gae_bootstrap", 2, "GAE with terminations and truncations, truncations bootstrapped (SPEC 4).",
         _gae_inputs(True), _gae_outputs, exact=True),
    Case("gae_no_bootstrap", 2, "The same rollout with truncations treated as terminations (SPEC 4).",
         _gae_inputs(False), _gae_outputs, exact=True),
    Case("ppo_loss", 3, "PPO loss of one minibatch (M = 8), its gradient for every parameter and its "
                        "diagnostics (SPEC 5).", _loss_inputs, _loss_outputs, exact=False),
    Case("adam_step", 4, "One global gradient-norm clip and Adam step from a state after t steps (SPEC 6).",
         _adam_inputs, _adam_outputs, exact=False),
    Case("ppo_update", 5, f"One PPO update: {UPDATE_EPOCHS} epochs of {UPDATE_MINIBATCHES} minibatches of a batch "
                          f"of B = {UPDATE_BATCH}, each a loss, a clip and an Adam step (SPEC 6).",
         _update_inputs, _update_outputs, exact=False),
    Case("ppo_loss_kinks", 6, f"The PPO loss of a minibatch (M = {KINK_ROWS}) whose samples sit exactly on the "
                              "kinks of the loss: the clip's bounds, ties of the max, a zero advantage (SPEC 5.3 to "
                              "5.5, docs/porting.md §7); no clipfrac, which a ratio one ulp beside a bound "
                              "changes.", _loss_kinks_inputs, _without_clipfrac(_loss_outputs), exact=False,
         nudgeable=False),
    Case("ppo_update_kinks", 7, f"One PPO update ({KINK_UPDATE_EPOCHS} epochs of {KINK_UPDATE_BATCH // KINK_ROWS} "
                                f"minibatches, B = {KINK_UPDATE_BATCH}) whose first minibatch sits exactly on the "
                                "kinks of the loss, as ppo_loss_kinks (SPEC 5.3 to 5.5, 6); no clipfrac.",
         _update_kinks_inputs, _without_clipfrac(_update_outputs), exact=False, nudgeable=False),
    Case("init", 8, "The orthogonal initialisation of both networks from given standard-normal draws, in torch's "
                    "(out, in) shape (SPEC 1.4, docs/porting.md §4).", _init_inputs, _init_outputs, exact=False,
         float64_in_float32=("params/",)),  # a float32 run draws its parameters in float64 and rounds them
    Case("normalization", 9, f"Batches of {', '.join(map(str, NORM_BATCH_SIZES))} rows merged into the running "
                             "statistics, then observations normalised and clipped (SPEC 3.1, 3.2).",
         _normalization_inputs, _normalization_outputs, exact=False,
         float64_in_float32=("count_after",)),  # the count is a float64 scalar in every run
    Case("lr_schedule", 10, f"The learning rate of iterations 1..K (K = {LR_ITERATIONS}), annealed and not "
                            "(SPEC 6.3, docs/porting.md §14).", _lr_inputs, _lr_outputs, exact=True,
         float64_in_float32=("lr_annealed", "lr_constant")),  # a float64 scalar in every run
    Case("reward_scaling", 11, f"Reward scaling of {RS_N} envs over {RS_T} steps, terminations and truncations in "
                               "different envs and steps: the scaled rewards, each env's G and the statistics after "
                               "each step (SPEC 3.3).", _reward_scaling_inputs, _reward_scaling_outputs, exact=False,
         float64_in_float32=("count_after",)),
    Case("iteration", 0, iteration.DESCRIPTION, iteration.make_inputs, iteration.compute, exact=False,
         float64_in_float32=iteration.FLOAT64_IN_FLOAT32),
)
