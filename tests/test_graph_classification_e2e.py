"""Graph classification end to end on MUTAG (offline TU files): a small table7-shaped matrix through the
command line (pretrain GraphMAE's GIN once per seed, slim, SVM / fine-tuning / SLIDE heads), its table
with Change-Param rows and the published reference, a paired compare, the redundancy analyses, and an
incompatible dataset/head pair refused before training."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from registry import cli
from registry.store import ResultsStore

pytestmark = pytest.mark.datasets

SPEC = """
name = "t7small"
datasets = ["MUTAG"]
pretrainers = ["graphmae-graph"]
seeds = [0, 1]
preset = "quick"

[labels]
"original/svm" = "Original"
"half/svm" = "Half"
"2-quarter/svm" = "2-Quarter"

[[group]]
slimmers = ["original", "half", "2-quarter"]
heads = ["svm"]

[[group]]
slimmers = ["original"]
heads = ["graph-full"]

[[group]]
slimmers = ["2-half"]
heads = ["graph-slide"]
"""


@pytest.fixture(scope="module")
def finished(tmp_path_factory, shared_datasets_module):
    tmp = tmp_path_factory.mktemp("t7")
    (tmp / "t7small.toml").write_text(SPEC)
    store = tmp / "results.sqlite"
    code = cli.main(["matrix", str(tmp / "t7small.toml"), "--store", str(store), "--data-root",
                     str(shared_datasets_module), "--quiet", "--threads", "1"])
    assert code == 0
    return tmp, store


@pytest.fixture(scope="module")
def shared_datasets_module():
    from conftest import offline_datasets

    return offline_datasets()


def test_matrix_rows_are_complete_graph_classification_runs(finished):
    _, store = finished
    runs = ResultsStore(store).frame()
    assert len(runs) == 2 * 5 and (runs["status"] == "ok").all()
    assert set(runs["task"]) == {"graph-classification"}
    assert runs["test_accuracy"].between(30, 100).all() and (runs["test_accuracy_std"] >= 0).all()
    half = runs[runs["slimmer"] == "half"]["param_change_pct"]
    assert (half < -50).all()  # GIN: half of the hidden and output units of every MLP


def test_table_has_accuracy_change_param_and_reference(finished, capsys):
    tmp, store = finished
    assert cli.main(["table", str(tmp / "t7small.toml"), "--store", str(store), "--vs-reference"]) == 0
    out = capsys.readouterr().out
    assert "MUTAG ACC" in out and "| Original " in out and "| Change-Param (half) " in out
    assert cli.main(["table", "--store", str(store), "--format", "csv"]) == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert "test_accuracy_mean" in frame.columns and set(frame["dataset"]) == {"MUTAG"}


def test_compare_slide_against_full_fine_tuning_paired_by_seed(finished, capsys):
    _, store = finished
    code = cli.main(["compare", "--store", str(store), "--a", "head=graph-slide", "--b", "head=graph-full"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "test_accuracy" in out.out + out.err


def test_redundancy_analyses_work_for_the_gin_encoder(finished, capsys, shared_datasets_module):
    tmp, store = finished
    assert cli.main(["analyze", "params", "--datasets", "MUTAG", "--pretrainers", "graphmae-graph", "--store",
                     str(tmp / "params.sqlite"), "--data-root", str(shared_datasets_module)]) == 0
    assert "half" in capsys.readouterr().out
    assert cli.main(["analyze", "cka", "--dataset", "MUTAG", "--pretrainer", "graphmae-graph", "--preset", "quick",
                     "--seeds", "0", "--rates", "0", "0.5", "--store", str(store), "--data-root",
                     str(shared_datasets_module)]) == 0
    out = capsys.readouterr().out
    assert "layer 5" in out  # MUTAG's encoder: 5 GIN layers


def test_incompatible_dataset_and_head_are_refused_before_training(capsys, shared_datasets_module, tmp_path):
    code = cli.main(["run", "--dataset", "MUTAG", "--pretrainer", "graphmae-graph", "--head", "linear", "--preset",
                     "quick", "--store", str(tmp_path / "r.sqlite"), "--data-root", str(shared_datasets_module)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "graph-classification" in err
    assert not (tmp_path / "r.sqlite").exists() or ResultsStore(tmp_path / "r.sqlite").frame().empty
