"""A minimal port: read the inputs of the gaussian and GAE cases, compute their
outputs from the formulas with numpy alone, and save them for check-port.

    python tests/port_example.py tests/golden outputs.npz
    ppo-ref check-port tests/golden outputs.npz --case gaussian --case gae_bootstrap --case gae_no_bootstrap
"""

import json
import sys

import numpy as np


def read_inputs(vectors_dir, case):
    """A case's inputs: the arrays its index entry lists with role "input"."""
    with np.load(f"{vectors_dir}/{case['file']}", allow_pickle=False) as npz:
        return {a["name"]: npz[a["name"]] for a in case["arrays"] if a["role"] == "input"}


def gaussian(x):
    a, mu, log_std = x["actions"], x["mu"], x["log_std"]
    var = np.exp(2.0 * log_std)
    return {
        "log_prob": np.sum(-((a - mu) ** 2) / (2.0 * var) - log_std - 0.5 * np.log(2.0 * np.pi), axis=-1),
        "entropy": np.sum(log_std + 0.5 * (1.0 + np.log(2.0 * np.pi))),
        "grad_mu": (a - mu) / var,
        "grad_log_std": (a - mu) ** 2 / var - 1.0,
        "entropy_grad_log_std": np.ones_like(log_std),
        "kl": np.sum(x["log_std_q"] - log_std + (var + (mu - x["mu_q"]) ** 2) / (2.0 * np.exp(2.0 * x["log_std_q"]))
                     - 0.5, axis=-1),
        "sample": mu + np.exp(log_std) * x["noise"],
    }


def gae(x):
    done = x["terminated"] | x["truncated"]
    terminated = x["terminated"] if x["bootstrap_truncation"] else done
    gamma, lam = float(x["gamma"]), float(x["lam"])
    delta = x["rewards"] + gamma * (1.0 - terminated) * x["next_values"] - x["values"]
    carry = gamma * lam * (1.0 - done)
    advantages = np.zeros_like(delta)
    last = np.zeros_like(delta[0])
    for t in reversed(range(len(delta))):
        last = delta[t] + carry[t] * last
        advantages[t] = last
    return {"advantages": advantages, "returns": advantages + x["values"]}


PORT = {"gaussian": gaussian, "gae_bootstrap": gae, "gae_no_bootstrap": gae}


def main(vectors_dir, out_path):
    with open(f"{vectors_dir}/index.json", encoding="utf-8") as f:
        index = json.load(f)
    outputs = {}
    for case in index["cases"]:
        if case["name"] in PORT:
            for name, value in PORT[case["name"]](read_inputs(vectors_dir, case)).items():
                outputs[f"{case['name']}/{name}"] = value
    np.savez(out_path, **outputs)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
