"""The task dimension: evaluators against hand-computed cases, tasks in the store (old stores read as
node classification), and the runner refusing a dataset its head does not support before any training."""

from __future__ import annotations

import sqlite3

import pytest
import torch

from registry.metrics import fold_accuracy, link_scores
from registry.store import ResultsStore
from registry.tasks import BY_NAME, LINK, NODE


def test_link_scores_match_a_hand_computed_case():
    # positives 0.9, 0.3, 0.85; negatives 0.8, 0.1: 5 of the 6 (positive, negative) pairs are ordered -> AUC 5/6;
    # ranked 0.9+ 0.85+ 0.8- 0.3+ 0.1-: precision at each positive 1, 1, 3/4 -> AP 11/12
    scores = link_scores(torch.tensor([0.9, 0.8, 0.3, 0.1, 0.85]), torch.tensor([1, 0, 1, 0, 1]))
    assert scores["auc"] == pytest.approx(100 * 5 / 6, abs=1e-4)
    assert scores["ap"] == pytest.approx(100 * 11 / 12, abs=1e-4)


def test_link_scores_are_rank_based_logits_or_probabilities():
    logits = torch.tensor([2.0, -1.0, 0.5, -3.0])
    labels = torch.tensor([1, 0, 0, 1])
    assert link_scores(logits, labels) == link_scores(logits.sigmoid(), labels)


def test_fold_accuracy_is_mean_and_population_std():
    assert fold_accuracy([80.0, 90.0, 70.0]) == pytest.approx({"accuracy": 80.0, "accuracy_std": (200 / 3) ** 0.5})
    with pytest.raises(ValueError):
        fold_accuracy([])


def test_every_builtin_task_tables_and_compares_by_required_metrics():
    for task in BY_NAME.values():
        assert task.primary in task.required_metrics and set(task.metrics) <= set(task.required_metrics)
        assert {"trainable_params", "total_params"} <= set(task.required_metrics)


def _row(key: str, **extra) -> dict:
    return dict(key=key, status="ok", dataset="D", pretrainer="p", slimmer="original", head="h", seed=0,
                finetune_seed=0, preset="quick", config={}, diagnostics=[], error=None, device="cpu", versions={},
                wall_time_s=1.0, peak_memory_mb=None, **extra)


def test_store_checks_each_row_against_its_own_required_metrics(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    link = BY_NAME[LINK].required_metrics
    store.write(_row("link-ok", task=LINK, required=list(link), metrics=dict.fromkeys(link, 1.0)))
    store.write(_row("link-nan", task=LINK, required=list(link), metrics=dict.fromkeys(link, 1.0) | {"test_ap": None}))
    assert store.done_keys() == {"link-ok"}
    frame = store.frame()
    assert frame["key"].tolist() == ["link-ok"] and frame["task"].tolist() == [LINK]


def test_a_store_written_before_tasks_reads_as_node_classification(tmp_path):
    path = tmp_path / "old.sqlite"
    store = ResultsStore(path)
    metrics = dict.fromkeys(BY_NAME[NODE].required_metrics, 1.0)
    store.write(_row("old", metrics=metrics))
    with sqlite3.connect(path) as db:  # as before the task columns existed
        db.execute("ALTER TABLE runs DROP COLUMN required")
        db.execute("ALTER TABLE runs DROP COLUMN task")
    frame = ResultsStore(path, read_only=True).frame()
    assert frame["task"].tolist() == [NODE] and ResultsStore(path, read_only=True).done_keys() == {"old"}
    ResultsStore(path)  # opened to write: the columns are added
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT task, required FROM runs").fetchall() == [(NODE, None)]


def test_link_tables_show_the_task_metrics_and_percent_of_a_row(tmp_path):
    from registry.tables import paper_tables, render_tables

    store = ResultsStore(tmp_path / "r.sqlite")
    link = BY_NAME[LINK].required_metrics
    for seed, (original, half) in enumerate([(90.0, 45.0), (92.0, 46.0)]):
        for slimmer, auc, change in (("original", original, 0.0), ("half", half, -50.0)):
            metrics = dict.fromkeys(link, 1.0) | {"test_auc": auc, "test_ap": 80.0, "param_change_pct": change}
            store.write(_row(f"{slimmer}{seed}", task=LINK, required=list(link), metrics=metrics)
                        | {"slimmer": slimmer, "seed": seed, "config": {"slimmer": slimmer}})
    label = {"original": "Original", "half": "Half"}
    (table,) = paper_tables(store.frame(), label=lambda slimmer, head: label[slimmer], percent_of="Original")
    assert list(table.frame.columns) == [("D", "AUC"), ("D", "AP")]
    assert table.frame.loc["Original", ("D", "AUC")] == "91.00 ± 1.00"
    assert table.frame.loc["Half (% of Original)"].tolist() == ["50.0%", "100.0%"]  # AUC 45.5 / 91, AP 80 / 80
    assert table.frame.loc["Change-Param", ("D", "AUC")] == "-50.0%"
    assert "link-prediction" in table.title and "F1" not in render_tables([table])


@pytest.mark.parametrize("name", list(BY_NAME))
def test_describe_task_names_its_metrics_and_components(name, capsys):
    from registry.cli import main

    assert main(["describe", "task", name]) == 0
    out = capsys.readouterr().out
    assert f"compare uses {BY_NAME[name].primary}" in out and "datasets:" in out and "heads:" in out
    if name == LINK:
        assert "datasets: Cora-link, CiteSeer-link, PubMed-link" in out and "heads: link-eval, link-full, link-slide" in out


def test_a_star_in_a_spec_takes_only_what_fits_the_dataset_task():
    from registry.plugins import build_registry
    from registry.spec import MatrixSpec

    registry = build_registry()
    heads = MatrixSpec.from_dict(dict(datasets=["Cora", "Cora-link"], pretrainers=["maskgae", "maskgae-link"],
                                      heads=["*"])).cells(registry)
    assert {(c.dataset, c.pretrainer, c.head) for c in heads if c.head.startswith("link")} == {
        ("Cora-link", "maskgae-link", h) for h in ("link-eval", "link-full", "link-slide")}
    assert {(c.dataset, c.pretrainer) for c in heads} == {("Cora", "maskgae"), ("Cora-link", "maskgae-link")}
    datasets = MatrixSpec.from_dict(dict(datasets=["*"], pretrainers=["grace"], heads=["linear"])).cells(registry)
    assert not any(c.dataset.endswith("-link") for c in datasets) and any(c.dataset == "Cora" for c in datasets)
    named = MatrixSpec.from_dict(dict(datasets=["Cora-link"], pretrainers=["grace"], heads=["linear"])).cells(registry)
    assert len(named) == 1  # named pairs stay: the runner refuses them with one line
