"""Planning a large matrix: ``slide-bench matrix SPEC --dry-run`` over 100,000 cells (every pretrainer,
slimmer and head on Cora, 953 seeds), as a user runs it: a fresh process, names resolved, every option
of every cell checked, keys hashed, the store read, the list printed. Target (issue 16): under 5 s."""

from __future__ import annotations

import os
import subprocess
import sys

from benchmarks.timing import label

HEADS = ["linear", "full", "slide", "lora", "slide-lora"]
SEEDS = 953  # 3 pretrainers x 7 slimmers x 5 heads x 953 seeds = 100,065 cells


def test_dry_run_of_a_100000_cell_matrix(benchmark, tmp_path, request):
    spec = tmp_path / "big.toml"
    spec.write_text(f'datasets = ["Cora"]\npretrainers = ["graphmae", "grace", "maskgae"]\nslimmers = ["*"]\n'
                    f'heads = {HEADS}\nseeds = {list(range(SEEDS))}\n'.replace("'", '"'))
    command = [sys.executable, "-m", "registry.cli", "matrix", str(spec), "--dry-run", "--store",
               str(tmp_path / "results.sqlite")]
    env = dict(os.environ, SLIDE_BENCH_CACHE=str(tmp_path / "cache"))

    def dry_run() -> str:
        return subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout

    label(benchmark, "dry-run", "matrix cpu", cells=100_065, load_average=os.getloadavg()[0])
    out = benchmark.pedantic(dry_run, rounds=request.config.getoption("bench_rounds"), warmup_rounds=1, iterations=1)
    assert out.startswith("matrix 'big': 100065 runs") and out.count("\n") == 100_066
