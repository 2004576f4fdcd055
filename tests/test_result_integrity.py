"""No row without its required metrics: incomplete or non-finite metrics, a loss that becomes NaN or
infinite and an encoder with non-finite weights make the run ``failed`` with a reason, never ``ok``;
the summary lists failed runs on stderr; old ``ok`` rows without scores are skipped, with a note, and
redone."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import torch

import matrix_plugin
from registry import cli, hookimpl
from registry.cache import EncoderCache
from registry.heads import FitTracker
from registry.numerics import FiniteWatch, NonFiniteError, check_metrics
from registry.plugins import build_registry, make_plugin_manager
from registry.runner import Cell, Runner
from registry.store import ResultsStore
from slide_plugin.heads.linear import LinearProbe
from slide_plugin.pretrainers.graphmae import GraphMAE

TINY = (("pretrain", "epochs", "2"), ("pretrain", "num_hidden", "8"), ("pretrain", "num_heads", "2"),
        ("head", "epochs", "3"))


class Returns(LinearProbe):
    """A linear probe whose metrics are edited before they are returned."""

    def __init__(self, name: str, edit):
        self.name, self.edit = name, edit

    def fit(self, encoder, data, options, ctx):
        return self.edit(super().fit(encoder, data, options, ctx))


class Diverges(LinearProbe):
    name = "diverges"

    def fit(self, encoder, data, options, ctx):
        tracker = FitTracker(ctx.device, data.num_classes)
        logits = torch.zeros(data.num_nodes, data.num_classes)
        for epoch in range(5):
            tracker.start_epoch()
            tracker.step(10, torch.tensor(float("inf") if epoch == 3 else 1.0))
            tracker.end_epoch()
            tracker.evaluate(epoch, logits, data)
        return tracker.result([])


class NanEncoder(GraphMAE):
    name = "nan-graphmae"

    def pretrain(self, data, options, ctx):
        encoder = super().pretrain(data, options, ctx)
        with torch.no_grad():
            next(encoder.parameters()).fill_(float("nan"))
        return encoder


class Faulty:
    @hookimpl
    def register_heads(register):
        register(Returns("incomplete", lambda m: {k: v for k, v in m.items() if k != "test_macro_f1"}))
        register(Returns("nan-score", lambda m: m | {"test_micro_f1": float("nan")}))
        register(Returns("not-a-dict", lambda m: [m]))
        register(Diverges())

    @hookimpl
    def register_pretrainers(register):
        register(NanEncoder())


@pytest.fixture(scope="module")
def registry():
    pm = make_plugin_manager()
    pm.register(matrix_plugin, name="matrix_test")
    pm.register(Faulty, name="faulty")
    return build_registry(pm)


def run(registry, tmp: Path, *cells: Cell) -> dict[str, tuple[str, str]]:
    runner = Runner(registry, ResultsStore(tmp / "results.sqlite"), EncoderCache(tmp / "encoders"),
                    torch.device("cpu"), quiet=True)
    runner.run(cells)
    df = runner.store.frame()
    return {f"{r.pretrainer}/{r.head}": (r.status, str(r.error).splitlines()[0]) for r in df.itertuples()}


def test_incomplete_or_non_finite_metrics_fail_the_run(registry, tmp_path):
    heads = ["linear", "incomplete", "nan-score", "not-a-dict", "diverges"]
    got = run(registry, tmp_path, *(Cell("toy", "graphmae", "original", h, sets=TINY) for h in heads))
    assert got["graphmae/linear"][0] == "ok"
    assert got["graphmae/incomplete"] == ("failed", "ResultError: head 'incomplete' returned no test_macro_f1")
    assert got["graphmae/nan-score"] == ("failed", "ResultError: head 'nan-score' returned a non-finite "
                                                   "test_micro_f1 (nan)")
    assert got["graphmae/not-a-dict"] == ("failed", "ResultError: head 'not-a-dict' returned list, not a dict of metrics")
    assert got["graphmae/diverges"] == ("failed", "NonFiniteError: training loss became inf at epoch 3")


def test_an_encoder_with_non_finite_weights_fails_and_is_not_cached(registry, tmp_path):
    got = run(registry, tmp_path, Cell("toy", "nan-graphmae", "original", "linear", sets=TINY))
    assert got["nan-graphmae/linear"][0] == "failed"
    assert "the encoder pretrained by 'nan-graphmae' has non-finite weights" in got["nan-graphmae/linear"][1]
    assert not list((tmp_path / "encoders").glob("*.pt"))


def test_a_diverging_loss_fails_the_cell_naming_the_epoch(tmp_path, capsys, monkeypatch):
    """A learning rate in range but far too large: the linear probe's loss overflows."""
    monkeypatch.setenv("SLIDE_BENCH_CACHE", str(tmp_path / "cache"))
    code = cli.main(["run", "--preset", "quick", "--quiet", "--store", str(tmp_path / "s.sqlite"), "--set",
                     "pretrain.epochs=1", "--set", "pretrain.num_hidden=16", "--set", "head.lr=1e30"])
    err = capsys.readouterr().err
    assert code == 1
    assert "slide-bench: 1 of 1 runs did not finish ok:" in err
    assert "failed graphmae/original/linear Cora pretrain seed 0, finetune seed 0: NonFiniteError: " in err and "at epoch " in err
    with sqlite3.connect(tmp_path / "s.sqlite") as db:
        assert db.execute("SELECT status FROM runs").fetchall() == [("failed",)]


def test_finite_watch_names_the_first_bad_epoch_and_checks_in_batches():
    watch = FiniteWatch("pretraining loss", every=3)
    watch(0, torch.tensor(1.0))
    watch(1, torch.tensor(float("nan")))  # not read yet: one transfer per three epochs
    with pytest.raises(NonFiniteError, match="pretraining loss became nan at epoch 1"):
        watch(2, torch.tensor(float("-inf")))
    watch(3, 2.0)
    watch.check()


def test_check_metrics_accepts_complete_finite_metrics():
    check_metrics({"a": 1.0, "b": 3, "note": "text"}, ["a", "b"], "head 'x'")
    with pytest.raises(Exception, match="returned no b"):
        check_metrics({"a": 1.0, "b": None}, ["a", "b"], "head 'x'")


def test_old_ok_rows_without_scores_are_skipped_with_a_note_and_redone(registry, tmp_path, capsys):
    cells = [Cell("toy", "graphmae", "original", "linear", seed, sets=TINY) for seed in (0, 1, 2)]
    run(registry, tmp_path, *cells)
    store = tmp_path / "results.sqlite"
    with sqlite3.connect(store) as db:  # as a store written before the checks could hold them
        (k0, m0), (k1, m1), _ = db.execute("SELECT key, metrics FROM runs ORDER BY seed").fetchall()
        db.execute("UPDATE runs SET metrics = ? WHERE key = ?", (json.dumps({"epochs": 0}), k0))
        db.execute("UPDATE runs SET metrics = ? WHERE key = ?",
                   (json.dumps(json.loads(m1) | {"test_macro_f1": float("nan")}), k1))
    capsys.readouterr()
    for argv in (["table"], ["table", "--format", "csv"], ["compare", "--a", "head=linear", "--b", "head=linear"]):
        code = cli.main([*argv, "--store", str(store)])
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err
        assert "skipping 2 run(s) stored as ok without a finite test_micro_f1" in captured.err, argv
        assert k0[:12] in captured.err and k1[:12] in captured.err
        assert code in (0, 2), argv
    assert ResultsStore(store).done_keys() == {r for r in ResultsStore(store).frame()["key"]}
    capsys.readouterr()
    runner = Runner(registry, ResultsStore(store), EncoderCache(tmp_path / "encoders"), torch.device("cpu"), quiet=True)
    assert {r.key for r in runner.plan(cells)[1]} == {k0, k1}  # redone on the next run
