"""``make bench`` runs end to end (on a small config) and prints what docs/benchmarks.md
quotes: the bare env, the vector env beside it, both dtypes, portable against native
numerics, and the last line's format."""

import pytest
import re
import subprocess
import sys

pytestmark = pytest.mark.subprocess


def test_bench_prints_rates_against_the_bare_env():
    proc = subprocess.run([sys.executable, "-m", "ppo_ref.bench", "--env-id", "Hopper-v4", "--iterations", "1",
                           "--async-num-envs", "0", "--thread-num-envs", "2", "--numerics-iterations", "1"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert re.fullmatch(r"second core: two busy processes each run at \d+\.\d\d of one alone", lines[2])
    bare = float(re.fullmatch(r"bare env \(gymnasium.make, no vector env; fastest of 3\): (\d+) steps/s",
                              lines[3])[1])
    assert bare > 0
    assert re.fullmatch(r"env-only \(.*\): \d+ steps/s, \d+\.\d\d x the bare env", lines[4])
    train = re.fullmatch(r"training: (\d+) steps/s, (\d+\.\d\d) x the bare env .*", lines[5])
    assert train and abs(float(train[2]) - int(train[1]) / bare) < 0.01
    for pattern in (r"training, --dtype float32: \d+ steps/s, \d+\.\d\d x the bare env .*",
                    r"update alone \(synthetic batch, float64\): \d+ minibatch updates/s .*",
                    r"update alone \(synthetic batch, float32\): \d+ minibatch updates/s .*",
                    r"training, 2 envs on threads \(1024 steps each, float64\): \d+ steps/s, .*",
                    r"training, 2 envs on threads \(1024 steps each, float32\): \d+ steps/s, .*"):
        assert any(re.fullmatch(pattern, line) for line in lines), pattern
    assert lines[0].endswith("; numerics portable x86-64-v3") or "; numerics native (" in lines[0], lines[0]
    numerics = re.fullmatch(r"numerics, whole process, 2048 steps \(fastest of 3, alternating\): portable "
                            r"(\d+\.\d\d) s, native \(.* kernel; numpy SIMD .*\) (\d+\.\d\d) s; native/portable wall "
                            r"(\d+\.\d\d)", lines[-2])
    assert numerics and abs(float(numerics[3]) - float(numerics[2]) / float(numerics[1])) < 0.05, lines[-2]
    last = re.fullmatch(r"train/env-only ratio: (\d+\.\d\d)", lines[-1])
    assert last and last[1] == train[2]
