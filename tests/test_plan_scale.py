"""Planning scales with the distinct settings, not the cells: cells that differ only in their seeds
share one resolution, and the fast key equals the hash of the full configuration (the timing of a
100,000-cell dry run is a benchmark: benchmarks/test_plan.py)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import registry.runner as runner_module
from registry.cache import EncoderCache, config_hash
from registry.plugins import build_registry
from registry.runner import Cell, Runner, pretraining_key
from registry.store import ResultsStore


def test_seeds_share_one_resolution_and_keys_equal_the_config_hash(tmp_path, monkeypatch):
    calls = []
    original = runner_module.resolve_options
    monkeypatch.setattr(runner_module, "resolve_options", lambda *a, **k: calls.append(1) or original(*a, **k))
    runner = Runner(build_registry(), ResultsStore(tmp_path / "s.sqlite"), EncoderCache(tmp_path / "enc"), "cpu")
    sets = (("head", "lr", "0.5"), ("pretrain", "epochs", "3"))
    cells = [Cell("Cora", "graphmae", slim, "linear", seed, ft, "quick", sets)
             for slim in ("original", "half") for seed in (0, 1, 2**63 - 1) for ft in (0, 7)]
    resolved, todo = runner.plan(cells)
    assert len(calls) == 2 * 3  # one resolution per slimmer (three components each), not per cell
    assert len(resolved) == len(todo) == 12
    for r in resolved:
        assert r.key == config_hash(r.config)
        assert (r.config["seed"], r.config["finetune_seed"]) == (r.cell.seed, r.cell.finetune_seed)
    by_encoder = {}
    for r in resolved:
        by_encoder.setdefault(pretraining_key(r), set()).add(r.cell.slimmer)
    assert len(by_encoder) == 3 and all(v == {"original", "half"} for v in by_encoder.values())
    assert len(list(itertools.groupby(pretraining_key(r) for r in todo))) == 3  # grouped by encoder


def test_a_dry_run_piped_into_head_stops_quietly(tmp_path):
    """Regression: `slide-bench matrix SPEC --dry-run | head` ended in a BrokenPipeError traceback."""
    spec = tmp_path / "wide.toml"
    spec.write_text(f'datasets = ["Cora"]\npretrainers = ["graphmae"]\nslimmers = ["*"]\nseeds = {list(range(3000))}\n')
    env = dict(os.environ, SLIDE_BENCH_CACHE=str(tmp_path / "cache"))
    proc = subprocess.Popen([sys.executable, "-m", "registry.cli", "matrix", str(spec), "--dry-run", "--store",
                             str(tmp_path / "s.sqlite")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout.readline().startswith(b"matrix 'wide': 21000 runs")
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and "Traceback" not in err, err
