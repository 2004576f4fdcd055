"""Executors, through the real command line: throughput of ``--executor pool --workers 2`` against
``local`` with 2 threads on a CPU-bound spec of 16 cells (target: 1.6x), with ``local`` on 1 thread
beside them (how much of the two cores torch's own threads already use); and each executor's
per-cell overhead (a head that does not train, encoders cached); SLURM with one cell per job and
with every cell in one job (``cells_per_job``).

Rounds are interleaved (local, pool, then pool, local, ...) and medians reported with the load
average, since a shared machine's load moves during the run. Ray and SLURM are measured when
available (Ray installed; a SLURM cluster answering ``sinfo``, e.g. ``.ci/slurm.sh start``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CELLS = 16
THROUGHPUT = """name = "bench-throughput"
datasets = ["Cora"]
pretrainers = ["graphmae"]
seeds = [0, 1, 2, 3, 4, 5, 6, 7]
slimmers = ["original", "half"]
heads = ["full"]
preset = "quick"
[set]
pretrain.num_hidden = 256
head.epochs = {epochs}
"""
OVERHEAD = """name = "bench-overhead"
datasets = ["Cora"]
pretrainers = ["graphmae"]
heads = ["bench-no-training"]
finetune_seeds = {seeds}
preset = "quick"
"""
PLUGIN = '''from registry import Head, hookimpl


class NoTraining(Head):
    name = "bench-no-training"
    description = "fixed metrics at once: the executor's overhead alone"

    def fit(self, encoder, data, options, ctx):
        return dict(test_micro_f1=0.0, test_macro_f1=0.0, val_micro_f1=0.0, trainable_params=0, total_params=0)


@hookimpl
def register_heads(register):
    register(NoTraining())
'''


def available() -> list[str]:
    executors = ["local", "pool"]
    if importlib.util.find_spec("ray"):
        executors.append("ray")
    try:
        up = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        up = []
    if importlib.util.find_spec("submitit") and {"idle", "mixed"} & set(up):
        executors += ["slurm", "slurm-chunked"]  # one job per cell; every cell in one job
    return executors


@pytest.fixture
def bench_env(tmp_path):
    """An environment whose workers load the no-training head from an entry point."""
    (tmp_path / "site" / "bench_overhead_plugin.py").parent.mkdir()
    (tmp_path / "site" / "bench_overhead_plugin.py").write_text(PLUGIN)
    dist = tmp_path / "site" / "bench_overhead_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: bench-overhead-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[slide_bench]\nbench_overhead = bench_overhead_plugin\n")
    return dict(os.environ, SLIDE_BENCH_CACHE=str(tmp_path / "cache"), RAY_USAGE_STATS_ENABLED="0",
                SLIDE_BENCH_LOAD_PLUGINS="slide_plugin,bench_overhead",
                PYTHONPATH=os.pathsep.join([str(tmp_path / "site"), str(ROOT)]))


def matrix(env: dict, spec: Path, store: Path, *extra: str) -> tuple[float, float]:
    """Wall time of the command, and the driver's own time (its "done in" line: executor start-up
    and every cell, without the process start and planning)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "registry.cli", "matrix", str(spec), "--store", str(store), "--quiet",
                           "--force", *extra], cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - start
    assert done.returncode == 0, done.stdout + done.stderr
    return wall, float(re.search(r"done in ([0-9.]+)s", done.stdout).group(1))


def test_pool_throughput_vs_local(benchmark, tmp_path, bench_env, request):
    rounds = max(1, request.config.getoption("--bench-rounds") // 2)
    spec = tmp_path / "throughput.toml"
    spec.write_text(THROUGHPUT.format(epochs=int(os.environ.get("SLIDE_BENCH_EXECUTOR_EPOCHS", "40"))))
    store = tmp_path / "throughput.sqlite"
    runs = {"local": ["--executor", "local", "--threads", "2"], "pool": ["--executor", "pool", "--workers", "2"],
            "local-1-thread": ["--executor", "local", "--threads", "1"]}
    matrix(bench_env, spec, store, *runs["local"])  # warm-up: pretrains the 8 encoders into the cache
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    load = [os.getloadavg()[0]]

    def interleaved() -> None:
        for i in range(rounds):
            for name in (list(runs) if i % 2 == 0 else list(runs)[::-1]):
                times[name].append(matrix(bench_env, spec, store, *runs[name]))
                load.append(os.getloadavg()[0])

    benchmark.pedantic(interleaved, rounds=1, iterations=1)
    wall = {name: statistics.median(w for w, _ in t) for name, t in times.items()}
    ratio, threading = wall["local"] / wall["pool"], wall["local-1-thread"] / wall["local"]
    benchmark.group = "executor-throughput"
    benchmark.extra_info.update(cells=CELLS, rounds=rounds, wall_s=times, median_wall_s=wall, throughput_ratio=ratio,
                                two_thread_speedup=threading, loadavg=load, cpus=os.cpu_count())
    print(f"\nthroughput, {CELLS} cells, {rounds} interleaved round(s): local (2 threads) {wall['local']:.1f}s, "
          f"pool (2 workers) {wall['pool']:.1f}s, local (1 thread) {wall['local-1-thread']:.1f}s per matrix "
          f"(medians) -> pool/local throughput {ratio:.2f}x (target 1.6x; torch's 2 threads alone give "
          f"{threading:.2f}x); 1-min load average {min(load):.1f}-{max(load):.1f} on {os.cpu_count()} CPUs")


def test_per_cell_overhead(benchmark, tmp_path, bench_env):
    """(driver time of 17 cells - of 9 cells) / 8 for each executor, on a cached encoder and a head that
    does not train; the 1-cell time is the executor's start-up plus one cell. Both counts are above the
    number of workers, so each worker's own start (its imports, dataset and encoder loads) is in both."""
    specs = {}
    for n in (1, 9, 17):
        specs[n] = tmp_path / f"overhead{n}.toml"
        specs[n].write_text(OVERHEAD.format(seeds=list(range(n))))
    store = tmp_path / "overhead.sqlite"
    executors = available()
    matrix(bench_env, specs[1], store)  # warm-up: pretrains the encoder
    result: dict[str, dict[str, float]] = {}

    def measure() -> None:
        for name in executors:
            extra = ["--executor", name.split("-")[0]] + (["--workers", "2"] if name in ("pool", "ray") else [])
            extra += ["--executor-set", "cells_per_job=17"] if name == "slurm-chunked" else []
            one, nine, seventeen = (matrix(bench_env, specs[n], store, *extra)[1] for n in (1, 9, 17))
            result[name] = {"startup_and_one_cell_s": one, "per_cell_s": (seventeen - nine) / 8,
                            "loadavg": os.getloadavg()[0]}

    benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.group = "executor-overhead"
    benchmark.extra_info.update(overhead=result)
    for name, r in result.items():
        print(f"\noverhead {name}: start-up + 1 cell {r['startup_and_one_cell_s']:.2f}s, per further cell "
              f"{r['per_cell_s']:.3f}s (load average {r['loadavg']:.1f})")
