"""The Markdown timing report, from a small hand-written pytest-benchmark JSON document."""

from __future__ import annotations

import json

import pytest
import torch

from registry.benchreport import Target, duration, load_targets, load_timings, pairs, render_report
from registry.cli import main
from registry.errors import ConfigError

TARGETS = """
[baselines]
finetune-epoch = { head = "full", slimmer = "original" }

[[targets]]
name = "SLIDE half"
operation = "finetune-epoch"
candidate = { head = "slide", slimmer = "half" }
baseline = { head = "full", slimmer = "original" }
min_speedup = 1.5

[[targets]]
name = "linear probe"
operation = "finetune-epoch"
candidate = { head = "linear", slimmer = "original" }
baseline = { head = "full", slimmer = "original" }
min_speedup = 20
where = { dataset = ["Cora"] }

[[targets]]
name = "pretraining vs plain"
operation = "pretrain-epoch"
candidate = { impl = "slide-bench" }
baseline = { impl = "plain-pyg" }
max_ratio = 1.2
"""


def bench(operation, median, iqr=0.001, rounds=5, **labels):
    return {"group": f"{operation} group", "name": f"test_{operation}[{'-'.join(labels.values())}]",
            "params": {}, "extra_info": {"operation": operation, "labels": labels, "encoder_params": 10},
            "stats": {"median": median, "iqr": iqr, "rounds": rounds, "mean": median}}


def ft(dataset, head, slimmer, median):
    return bench("finetune-epoch", median, dataset=dataset, device="cpu", head=head, slimmer=slimmer)


@pytest.fixture
def report():
    return {
        "machine_info": {"cpu": {"brand_raw": "Test CPU", "count": 2}, "torch": "2.x", "torch_geometric": "2.y",
                         "python_version": "3.11", "load_average": [1.0, 2.0, 3.0]},
        "commit_info": {"id": "abcdef1234567890", "dirty": True},
        "datetime": "2026-01-01T00:00:00", "version": "5.3.1",
        "benchmarks": [
            ft("Cora", "full", "original", 0.100), ft("Cora", "slide", "half", 0.050),
            ft("Cora", "linear", "original", 0.010), ft("Computers", "full", "original", 1.0),
            ft("Computers", "slide", "half", 0.8), ft("Computers", "linear", "original", 0.01),
            bench("pretrain-epoch", 0.30, pretrainer="graphmae", impl="slide-bench", dataset="Cora"),
            bench("pretrain-epoch", 0.20, pretrainer="graphmae", impl="plain-pyg", dataset="Cora"),
            bench("pretrain-epoch", 0.5, pretrainer="maskgae", impl="slide-bench", dataset="Cora"),
            {"group": "misc", "name": "test_other[a]", "params": {"x": 1}, "extra_info": {},
             "stats": {"median": 2e-6, "iqr": 1e-7, "rounds": 9}},
        ],
    }


def test_timings_read_operation_and_labels(report):
    timings = load_timings(report)
    assert timings[0].operation == "finetune-epoch" and timings[0].labels["head"] == "full"
    assert timings[0].extra == {"encoder_params": 10}
    assert timings[-1].operation == "misc" and timings[-1].labels == {"x": "1"}  # falls back to group and params


def test_pairs_match_baseline_within_context(report):
    found = pairs(load_timings(report), "finetune-epoch", {"head": "slide"}, {"head": "full", "slimmer": "original"})
    assert [(ctx["dataset"], cand.median, base.median) for ctx, cand, base in found] == [
        ("Cora", 0.05, 0.1), ("Computers", 0.8, 1.0)]


def test_report_tables_ratios_and_targets(report):
    baselines, targets = load_targets(TARGETS)
    text = render_report(report, baselines, targets)
    assert "Test CPU (2 cores)" in text and "abcdef123456 (dirty)" in text and "load average 1.0 / 2.0 / 3.0" in text
    lines = text.splitlines()
    slide_cora = next(line for line in lines if line.startswith("| Cora | cpu | slide | half |"))
    assert "| 50 ms | 1 ms | 5 | 0.500 | 2.00× |" in slide_cora
    target_rows = [line for line in lines if line.startswith("| SLIDE half") or line.startswith("| linear probe")
                   or line.startswith("| pretraining vs plain")]
    # SLIDE on two datasets, linear on Cora only (where), pretraining for graphmae and maskgae (no reference)
    assert len(target_rows) == 5
    assert target_rows[0].endswith("| 2.00× faster | ≥ 1.5× faster | PASS |")
    assert target_rows[1].endswith("| 1.25× faster | ≥ 1.5× faster | FAIL |")
    assert "Computers" not in target_rows[2] and target_rows[2].endswith("| 10.00× faster | ≥ 20× faster | FAIL |")
    assert target_rows[3].endswith("| 1.50× the time | ≤ 1.2× the time | FAIL |")
    assert "## misc" in text and "| 2 µs | 100 ns | 9 |" in text


def test_target_without_baseline_row_is_not_measured(report):
    _, targets = load_targets(TARGETS)
    rows = [line for line in render_report(report, {}, targets).splitlines() if line.startswith("| pretraining")]
    assert rows[1].startswith("| pretraining vs plain | maskgae Cora | 500 ms | not measured |")


def test_target_needs_one_threshold():
    with pytest.raises(ConfigError, match="exactly one"):
        Target("t", "op", {}, {}, min_speedup=2, max_ratio=1.2)
    with pytest.raises(ConfigError, match="bad target"):
        load_targets('[[targets]]\nname = "t"\nunknown = 1\n')


def test_duration_units():
    assert [duration(x) for x in (2.5, 0.0123, 4.5e-5, 3e-8)] == ["2.5 s", "12.3 ms", "45 µs", "30 ns"]


def test_bench_command_renders_from_json(report, tmp_path, capsys):
    source, out, targets = tmp_path / "t.json", tmp_path / "r.md", tmp_path / "targets.toml"
    source.write_text(json.dumps(report))
    targets.write_text(TARGETS)
    assert main(["bench", "--from-json", str(source), "--report", str(out), "--targets", str(targets)]) == 0
    assert "## Targets" in out.read_text() and "## finetune-epoch" in out.read_text()


def test_bench_command_without_suite_is_one_line_error(tmp_path, capsys):
    assert main(["bench", "--suite", str(tmp_path), "--json", str(tmp_path / "x.json")]) == 2
    assert "no benchmark suite" in capsys.readouterr().err


def test_per_step_columns_when_epochs_record_their_steps(report):
    steps = {("full", "original"): 1, ("slide", "half"): 10, ("linear", "original"): 1}
    for bench_ in report["benchmarks"]:
        labels = bench_["extra_info"].get("labels", {})
        if bench_["extra_info"].get("operation") == "finetune-epoch":
            bench_["extra_info"]["steps_per_epoch"] = steps[labels["head"], labels["slimmer"]]
    text = render_report(report, *load_targets(TARGETS))
    header = next(line for line in text.splitlines() if line.startswith("| dataset | device | head"))
    assert header.endswith("| steps | per step | ÷ full/original | speed-up | speed-up per step |")
    slide_cora = next(line for line in text.splitlines() if line.startswith("| Cora | cpu | slide | half |"))
    assert slide_cora.endswith("| 10 | 5 ms | 0.500 | 2.00× | 20.00× |")  # 50 ms / 10 steps vs 100 ms / 1 step
    pretrain = next(line for line in text.splitlines() if line.startswith("| graphmae | slide-bench"))
    assert pretrain.endswith("| 300 ms | 1 ms | 5 |")  # no steps recorded: no extra columns


def test_step_run_and_memory_targets_and_columns(report):
    for bench_ in report["benchmarks"]:
        extra = bench_["extra_info"]
        if extra.get("operation") == "finetune-epoch":
            slide = extra["labels"]["head"] == "slide"
            extra.update(steps_per_epoch=10 if slide else 1, epochs_per_run=100 if slide else 300,
                         peak_memory_mb=2048.0 if slide else 500.0, peak_delta_mb=40.0 if slide else 400.0)
    targets = load_targets(TARGETS + """
[[targets]]
name = "per step"
operation = "finetune-epoch"
candidate = { head = "slide", slimmer = "half" }
baseline = { head = "full", slimmer = "original" }
min_speedup = 5
metric = "step"

[[targets]]
name = "per run"
operation = "finetune-epoch"
candidate = { head = "slide", slimmer = "half" }
baseline = { head = "full", slimmer = "original" }
min_speedup = 1
metric = "run"

[[targets]]
name = "memory"
operation = "finetune-epoch"
candidate = { head = "slide", slimmer = "half" }
baseline = { head = "full", slimmer = "original" }
max_ratio = 0.125
metric = "memory"
""")
    lines = render_report(report, *targets).splitlines()
    row = {name: next(line for line in lines if line.startswith(f"| {name} | Cora"))
           for name in ("per step", "per run", "memory")}
    assert row["per step"].endswith("| 5 ms vs 100 ms | 20.00× faster | ≥ 5× faster | PASS |")
    assert row["per run"].endswith("| 5 s vs 30 s | 6.00× faster | ≥ 1× faster | PASS |")  # 50 ms × 100 vs 100 ms × 300
    assert row["memory"].endswith("| 40 MB vs 400 MB | 0.10× the memory | ≤ 0.125× the memory | PASS |")
    header = next(line for line in lines if line.startswith("| dataset | device | head"))
    assert "| epochs | per run | peak memory | added |" in header and header.endswith("| speed-up per run |")
    slide_cora = next(line for line in lines if line.startswith("| Cora | cpu | slide | half |"))
    assert "| 100 | 5 s | 2 GB | 40 MB |" in slide_cora


def test_unknown_target_metric_is_refused():
    with pytest.raises(ConfigError, match="metric must be one of"):
        Target("t", "op", {}, {}, min_speedup=2, metric="energy")


def test_peak_memory_of_a_call_sees_what_it_allocates():
    from benchmarks.memory import PeakMemory

    with PeakMemory(torch.device("cpu")) as memory:
        block = torch.ones(64 * 2**20 // 4)  # 64 MB, touched
        del block
    assert memory.kind.startswith("rss") and memory.peak_mb > 0
    if memory.kind == "rss":  # Linux: the call's own peak
        assert 48 <= memory.peak_delta_mb < 1024
