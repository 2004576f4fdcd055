"""`table --format csv|json` is data only (numbers, n per metric, method and dataset keys) and round-trips
the stored scores; cells over different seeds show their n; the LaTeX has no stray rows and real minus signs."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from registry.cli import main
from registry.store import ResultsStore

SCORES = {  # (slimmer, seed) -> Micro-F1; half has a third seed that original lacks
    ("original", 0): 81.25, ("original", 1): 83.5, ("half", 0): 79.0, ("half", 1): 80.5, ("half", 2): 78.75,
}


def write_runs(path, scores=SCORES):
    store = ResultsStore(path)
    for (slimmer, seed), score in scores.items():
        config = {"dataset": "Cora", "seed": seed, "finetune_seed": 0,
                  **{kind: {"name": name, "version": "1", "options": {}}
                     for kind, name in (("pretrainer", "graphmae"), ("slimmer", slimmer), ("head", "linear"))}}
        metrics = {"test_micro_f1": score, "test_macro_f1": score - 1, "val_micro_f1": 70.0, "trainable_params": 10,
                   "total_params": 10, "param_change_pct": 0.0 if slimmer == "original" else -51.1}
        store.write(dict(key=f"{slimmer}{seed}", status="ok", dataset="Cora", pretrainer="graphmae", slimmer=slimmer,
                         head="linear", seed=seed, finetune_seed=0, preset="official", config=config, metrics=metrics,
                         diagnostics=[], error=None, device="cpu", versions={}, wall_time_s=1.0, peak_memory_mb=None))
    return path


def table(capsys, *args):
    assert main(["table", *args]) == 0
    return capsys.readouterr()


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_data_formats_round_trip_the_stored_numbers(tmp_path, capsys, fmt):
    out = table(capsys, "--store", str(write_runs(tmp_path / "s.sqlite")), "--format", fmt)
    df = pd.read_csv(io.StringIO(out.out)) if fmt == "csv" else pd.DataFrame(json.loads(out.out))
    assert {"method", "dataset", "test_micro_f1_mean", "test_micro_f1_std", "test_micro_f1_n"} <= set(df.columns)
    for slimmer, part in df.groupby("slimmer"):
        stored = pd.Series([s for (name, _), s in SCORES.items() if name == slimmer])
        (row,) = part.to_dict("records")
        assert row["test_micro_f1_mean"] == pytest.approx(stored.mean())
        assert row["test_micro_f1_std"] == pytest.approx(stored.std(ddof=0))
        assert row["test_micro_f1_n"] == len(stored) and row["dataset"] == "Cora"
    assert "graphmae" in out.err  # the title and notes go to stderr, never into the data


def test_cells_over_different_seeds_show_their_n(tmp_path, capsys):
    out = table(capsys, "--store", str(write_runs(tmp_path / "s.sqlite"))).out
    assert "(n=2)" in out and "(n=3)" in out and "different runs" in out


def test_cells_over_the_same_seeds_state_n_once(tmp_path, capsys):
    same = {k: v for k, v in SCORES.items() if k[1] < 2}
    out = table(capsys, "--store", str(write_runs(tmp_path / "s.sqlite", same))).out
    assert "n = 2 per cell: seeds 0 1" in out and "(n=" not in out


def test_latex_has_no_stray_index_row_and_uses_minus_signs(tmp_path, capsys):
    out = table(capsys, "--store", str(write_runs(tmp_path / "s.sqlite")), "--format", "latex").out
    assert "Method &  &" not in out.replace("  ", " ") and "& &" not in out.split("\\midrule")[0].splitlines()[-1]
    assert "$-$51.1" in out and "-51.1" not in out.replace("$-$", "")
