"""De-correlation diagnostics of stored runs: the per-method summary and ``slide-bench plot decorrelation``."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from registry.cli import main
from registry.store import ResultsStore
from slide_plugin.diagnostics import diagnostics_frame, diagnostics_summary


def run_row(key: str, seed: int, weights: list[tuple[float, float]]) -> dict:
    config = {"dataset": "Cora", "seed": seed, "finetune_seed": 0, "pretrainer": {"name": "graphmae", "options": {}},
              "slimmer": {"name": "2-half", "options": {}}, "head": {"name": "slide", "options": {"decorrelation": True}}}
    records = [dict(epoch=e + 1, weight_min=lo, weight_max=hi, weight_std=hi - lo, ess_ratio=1 - (hi - lo) / 10,
                    balance_uniform=2.0, balance_learned=2.0 - (hi - lo), lambda_p=0.5, batches=3)
               for e, (lo, hi) in enumerate(weights)]
    return dict(key=key, status="ok", dataset="Cora", pretrainer="graphmae", slimmer="2-half", head="slide",
                seed=seed, finetune_seed=0, config=config, diagnostics=records)


def test_summary_spans_epochs_and_runs():
    runs = pd.DataFrame([run_row("a", 0, [(0.9, 1.1), (0.5, 1.5)]), run_row("b", 1, [(0.8, 1.2)]),
                         dict(run_row("c", 2, [(0.0, 9.0)]), status="failed")])
    df = diagnostics_frame(runs)
    assert len(df) == 3 and set(df["key"]) == {"a", "b"}  # failed runs are left out
    (row,) = diagnostics_summary(df).to_dict("records")
    assert row["runs"] == 2 and row["weight_min"] == 0.5 and row["weight_max"] == 1.5
    assert row["ess_ratio_min"] == pytest.approx(0.9)
    assert row["balance_learned/uniform"] == pytest.approx(((1.8 / 2) + (1.0 / 2) + (1.6 / 2)) / 3, abs=1e-4)
    assert math.isnan(row["class_shift_max"])  # runs stored before the class-shift diagnostic


def test_summary_reports_the_largest_class_shift():
    old, new = run_row("a", 0, [(0.9, 1.1)]), run_row("b", 1, [(0.8, 1.2), (0.5, 1.5)])
    for record, shift in zip(new["diagnostics"], (0.02, 0.07)):
        record["class_shift"] = shift
    (row,) = diagnostics_summary(diagnostics_frame(pd.DataFrame([old, new]))).to_dict("records")
    assert row["class_shift_max"] == pytest.approx(0.07)


def test_methods_are_named_never_hashed():
    other = run_row("d", 0, [(0.7, 1.3)])
    other["config"] = dict(other["config"], head={"name": "slide", "options": {"decorrelation": False}})
    df = diagnostics_frame(pd.DataFrame([run_row("a", 0, [(0.9, 1.1)]), other]))
    assert sorted(set(df["method"])) == ["2-half/slide head.decorrelation=false", "2-half/slide head.decorrelation=true"]


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("SLIDE_BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "results.sqlite"


def test_cli_plot_decorrelation(store, tmp_path, capsys):
    common = ["--dataset", "Cora", "--pretrainer", "graphmae", "--preset", "quick", "--set", "pretrain.epochs=1",
              "--set", "pretrain.num_hidden=8", "--store", str(store), "--quiet"]
    assert main(["run", "--slim", "2-half", "--head", "slide", "--set", "head.epochs=3", *common]) == 0
    assert main(["run", "--slim", "2-half", "--head", "slide", "--set", "head.epochs=3",
                 "--set", "head.rff_input=standardised", *common]) == 0
    assert main(["run", "--slim", "original", "--head", "full", "--set", "head.epochs=2", *common]) == 0
    capsys.readouterr()
    out = tmp_path / "figures"
    assert main(["plot", "decorrelation", "--preset", "quick", "--store", str(store), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "slide" in printed and "full" not in printed and "balance_learned/uniform" in printed
    assert "standardised" in printed and "raw" in printed
    frame = diagnostics_frame(ResultsStore(store).frame())
    assert len(frame) == 4  # epochs 1 and 2 of 0..2 of each SLIDE run: none in the first epoch
    assert frame["rff_input"].tolist() == ["raw", "raw", "standardised", "standardised"]  # side by side
    assert (out / "decorrelation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["plot", "decorrelation", "--heads", "full", "--store", str(store), "--out", str(out)]) == 2
    assert "logged weight diagnostics" in capsys.readouterr().err
