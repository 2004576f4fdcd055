"""Machine-readable output: `--json` on run, matrix and compare, data-only stdout for CSV, `export` of raw
runs (CSV, JSON, Parquet) that round-trips the stored numbers, and `compare`'s honest small-n report."""

from __future__ import annotations

import io
import json
import sys

import pandas as pd
import pytest

from registry.cli import main
from registry.store import ResultsStore

TINY = ["--set", "pretrain.epochs=1", "--set", "pretrain.num_hidden=16", "--set", "head.epochs=3"]


def write_pairs(path, scores: dict[tuple[str, bool], list[float]]):
    """A store of linear-probe-style runs: (head, decorrelation) -> score per pretraining seed."""
    store = ResultsStore(path)
    for (head, decorrelation), values in scores.items():
        for seed, score in enumerate(values):
            config = {"dataset": "Cora", "split_seed": 0, "seed": seed, "finetune_seed": 0,
                      "pretrainer": {"name": "graphmae", "version": "1", "options": {}},
                      "slimmer": {"name": "2-half", "version": "1", "options": {}},
                      "head": {"name": head, "version": "2", "options": {"decorrelation": decorrelation}}}
            metrics = {"test_micro_f1": score, "test_macro_f1": score - 2.5, "val_micro_f1": 70.125,
                       "trainable_params": 1234, "total_params": 5678, "param_change_pct": -51.25}
            store.write(dict(key=f"{head}{decorrelation}{seed}", status="ok", dataset="Cora", pretrainer="graphmae",
                             slimmer="2-half", head=head, seed=seed, finetune_seed=0, preset="official",
                             config=config, metrics=metrics, diagnostics=[{"epoch": 0, "loss": 0.5}], error=None,
                             device="cpu", versions={"torch": "x"}, wall_time_s=1.5, peak_memory_mb=None))
    return path


TWO_SEEDS = {("slide", True): [81.0, 82.0], ("full", True): [80.0, 80.5]}  # A > B on both seeds, p ≈ 0.2


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_compare_at_two_seeds_warns_and_shows_both_intervals_labelled(tmp_path, capsys):
    store = str(write_pairs(tmp_path / "s.sqlite", TWO_SEEDS))
    code, out, err = cli(capsys, "compare", "--a", "head=slide", "--b", "head=full", "--store", store)
    assert code == 0
    assert "warning: Cora/graphmae: only 2 pretraining seeds" in err and "fewer than 5" in err
    assert "paired t 95% CI" in out and "bootstrap 95% CI" in out and "no detectable difference" in out
    # The variance table names each method; no hash of its config.
    assert "2-half/slide" in out and "2-half/full" in out and "method_id" not in out
    code, out, err = cli(capsys, "compare", "--a", "head=slide", "--b", "head=full", "--store", store, "--alpha", "0.01")
    assert "paired t 99% CI" in out and "bootstrap 95% CI" in out


def test_compare_json_and_csv_are_data_only(tmp_path, capsys):
    store = str(write_pairs(tmp_path / "s.sqlite", TWO_SEEDS))
    code, out, err = cli(capsys, "compare", "--a", "head=slide", "--b", "head=full", "--store", store, "--json")
    assert code == 0 and "warning" in err
    data = json.loads(out)
    (row,) = data["comparisons"]
    assert row["seeds"] == [0, 1] and row["diffs"] == [1.0, 1.5] and row["mean_diff"] == pytest.approx(1.25)
    assert row["t_low"] < 0 < row["t_high"] and row["p_ttest"] > 0.05  # the t-interval agrees with the t-test
    assert row["bootstrap_level"] == 0.95 and row["t_level"] == 0.95
    assert {v["method"] for v in data["variance"]} == {"2-half/slide", "2-half/full"}
    code, out, err = cli(capsys, "compare", "--a", "head=slide", "--b", "head=full", "--store", store, "--format", "csv")
    (row,) = pd.read_csv(io.StringIO(out)).to_dict("records")
    assert row["mean_a"] == pytest.approx(81.5) and row["mean_b"] == pytest.approx(80.25) and row["n_seeds"] == 2


def test_variance_table_names_methods_that_differ_by_an_option(tmp_path, capsys):
    scores = {("slide", True): [81.0, 82.0, 80.0], ("slide", False): [79.0, 79.5, 78.0]}
    store = str(write_pairs(tmp_path / "s.sqlite", scores))
    code, out, err = cli(capsys, "compare", "--a", "head.decorrelation=true", "--b", "head.decorrelation=false",
                         "--store", store, "--json")
    assert {v["method"] for v in json.loads(out)["variance"]} == {
        "2-half/slide head.decorrelation=true", "2-half/slide head.decorrelation=false"}


def test_ambiguous_selector_hint_names_the_option_and_a_setting_that_picks_one(tmp_path, capsys):
    scores = {("slide", True): [81.0, 82.0], ("slide", False): [79.0, 79.5], ("full", True): [80.0, 80.5]}
    store = str(write_pairs(tmp_path / "s.sqlite", scores))
    code, out, err = cli(capsys, "compare", "--a", "head=full", "--b", "slim=2-half", "--store", store)
    assert code == 2 and err.count("\n") == 1
    assert "--b 'slim=2-half' matches runs of several settings" in err
    assert "(head = full, slide; head.decorrelation = false, true)" in err
    assert "add one of them to --b, e.g. --b 'slim=2-half,head=full'" in err
    code, out, err = cli(capsys, "compare", "--a", "head=full", "--b", "slim=2-half,head.decorrelation=false",
                         "--store", store)
    assert code == 0, err


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_export_round_trips_the_stored_numbers(tmp_path, capsys, fmt):
    store = write_pairs(tmp_path / "s.sqlite", TWO_SEEDS)
    target = tmp_path / f"runs.{fmt}"
    code, out, err = cli(capsys, "export", "--store", str(store), "--format", fmt, *(["-o", str(target)] * (fmt == "parquet")))
    assert code == 0, err
    if fmt == "csv":
        df = pd.read_csv(io.StringIO(out))
    elif fmt == "json":
        df = pd.DataFrame(json.loads(out))
    else:
        assert out == "" and "wrote 4 runs" in err
        df = pd.read_parquet(target)
    stored = ResultsStore(store).frame().set_index("key")
    df = df.set_index("key").loc[stored.index]
    for column in ("test_micro_f1", "test_macro_f1", "val_micro_f1", "trainable_params", "param_change_pct",
                   "wall_time_s", "seed"):
        assert df[column].tolist() == stored[column].tolist(), column
    config = df["config"].iloc[0]
    assert (json.loads(config) if isinstance(config, str) else config) == stored["config"].iloc[0]


def test_export_parquet_without_pyarrow_names_the_extra(tmp_path, capsys, monkeypatch):
    store = write_pairs(tmp_path / "s.sqlite", TWO_SEEDS)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if not installed
    code, out, err = cli(capsys, "export", "--store", str(store), "--format", "parquet", "-o", str(tmp_path / "r.parquet"))
    assert code == 2 and err.count("\n") == 1 and "pip install 'slide-bench[parquet]'" in err
    assert not (tmp_path / "r.parquet").exists()


def test_run_json_is_only_json_and_notes_go_to_stderr(tmp_path, capsys):
    store = str(tmp_path / "runs.sqlite")
    code, out, err = cli(capsys, "run", "--preset", "quick", "--quiet", "--store", store, "--show-config", "--json", *TINY)
    assert code == 0, err
    (row,) = json.loads(out)
    assert row["dataset"] == "Cora" and row["test_micro_f1_n"] == 1 and 0 <= row["test_micro_f1_mean"] <= 100
    assert "Resolved configuration" in err and "ok     graphmae/original/linear Cora" in err


def test_matrix_csv_and_json_print_only_data_on_stdout(tmp_path, capsys):
    spec = tmp_path / "one.toml"
    spec.write_text('name = "one"\ndatasets = ["Cora"]\npretrainers = ["graphmae"]\npreset = "quick"\n'
                    '[set]\npretrain = {epochs = 1, num_hidden = 16}\nhead = {epochs = 3}\n'
                    '[[group]]\nslimmers = ["original", "half"]\nheads = ["linear"]\n')
    store = str(tmp_path / "runs.sqlite")
    code, out, err = cli(capsys, "matrix", str(spec), "--store", store, "--dry-run", "--json")
    assert code == 0 and [r["slimmer"] for r in json.loads(out)] == ["original", "half"]
    assert "2 to run" in err
    code, out, err = cli(capsys, "matrix", str(spec), "--store", store, "--dry-run")
    assert "  graphmae/original/linear Cora pretrain seed 0, finetune seed 0\n" in out  # not "seed 0.0"
    code, out, err = cli(capsys, "matrix", str(spec), "--store", store, "--quiet", "--format", "csv")
    assert code == 0, err
    df = pd.read_csv(io.StringIO(out))
    assert sorted(df["slimmer"]) == ["half", "original"] and (df["test_micro_f1_n"] == 1).all()
    assert "matrix 'one'" in err and "done in" in err
    code, out, err = cli(capsys, "matrix", str(spec), "--store", store, "--json")
    assert len(json.loads(out)) == 2 and "2 already in the store" in err
    code, out, err = cli(capsys, "matrix", str(spec), "--store", store, "--dry-run")
    assert "matrix 'one'" in out  # the readable formats keep their status lines on stdout
