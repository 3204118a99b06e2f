"""A sweep on a two-node Ray cluster (Ray's own test cluster on this machine): the
head node, where the driver runs, has no CPU for runs, so every run trains on the
other node, and with ``files="return"`` that worker sends its run's files back,
which land under the driver's --out. (Which of several free nodes a run goes to
is Ray's choice, so the test does not ask runs to spread.)"""

import os

import pytest
import ray
from ray.cluster_utils import Cluster

from ppo_ref.run import checkpoint as ckpt
from ppo_ref.run.sweep import staging_dir, sweep

pytestmark = pytest.mark.env

TINY = {"total_timesteps": 512, "num_steps": 256, "num_minibatches": 4, "update_epochs": 1}


@pytest.fixture
def two_nodes():
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    cluster.add_node(num_cpus=2)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def test_runs_on_another_node_send_their_files_to_the_driver(two_nodes, tmp_path):
    alive = [n for n in ray.nodes() if n["Alive"]]
    assert len(alive) == 2
    worker = next(n["NodeID"] for n in alive if n["Resources"].get("CPU", 0) > 0)
    out = tmp_path / "sweep"
    lines = []
    status = sweep(["Pendulum-v1"], [1, 2], str(out), base=TINY, files="return", log=lines.append)
    assert status == {"Pendulum-v1__base__seed1": "finished", "Pendulum-v1__base__seed2": "finished"}, lines
    nodes = {line.rsplit(" ", 1)[1] for line in lines if " finished on node " in line}
    assert nodes == {worker[:12]}, lines  # the head node has no CPU for runs (lines name 12 hex digits)
    for seed in (1, 2):
        name = f"Pendulum-v1__base__seed{seed}"
        run = out / name
        assert sorted(os.listdir(run)) == ["checkpoint.npz", "config.json", "episodes.csv", "metrics.csv"]
        assert int(ckpt.load(run)["iteration"]) == 2
        assert not os.path.exists(staging_dir(str(out), name))
