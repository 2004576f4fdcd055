"""Paths: a read-only store is readable; a locked one is one line after the timeout; a failed dataset
load leaves no empty folders behind."""

from __future__ import annotations

import os
import shutil
import sqlite3

import pytest

from registry.cli import main
from registry.components import DatasetSpec
from registry.datasets import load_dataset
from registry.errors import DataError, StoreError
from registry.store import ResultsStore


def _store_with_a_run(path):
    ResultsStore(path).write(dict(
        key="k", status="ok", dataset="Cora", pretrainer="graphmae", slimmer="original", head="linear", seed=0,
        finetune_seed=0, preset="quick", config={}, diagnostics=[], error=None, device="cpu", versions={},
        metrics={"test_micro_f1": 81.5, "test_macro_f1": 80.0, "val_micro_f1": 79.0, "trainable_params": 7,
                 "total_params": 7, "param_change_pct": 0.0}, wall_time_s=1.0, peak_memory_mb=None))


def test_a_read_only_store_in_a_read_only_folder_is_readable(tmp_path, capsys):
    folder = tmp_path / "shared"
    folder.mkdir()
    _store_with_a_run(folder / "runs.sqlite")
    os.chmod(folder / "runs.sqlite", 0o444)
    os.chmod(folder, 0o555)
    try:
        assert main(["table", "--store", str(folder / "runs.sqlite")]) == 0
        assert "81.50" in capsys.readouterr().out
        assert sorted(p.name for p in folder.iterdir()) == ["runs.sqlite"]  # nothing written beside it
    finally:
        os.chmod(folder, 0o755)


def test_a_store_locked_beyond_the_timeout_is_one_line(tmp_path):
    path = tmp_path / "runs.sqlite"
    _store_with_a_run(path)
    store = ResultsStore(path, timeout=0.2)
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match=r"is locked by another process \(waited 0.2 s\)"):
            store.write_records("cka", "k", {}, [])
    finally:
        holder.rollback()
        holder.close()
    assert ResultsStore(path, timeout=0.2).done_keys() == {"k"}


def test_read_commands_never_create_a_store(tmp_path, capsys):
    for argv in (["table"], ["compare", "--a", "head=slide", "--b", "head=full"], ["plot", "params"]):
        assert main([*argv, "--store", str(tmp_path / "none.sqlite")]) == 2
    assert not (tmp_path / "none.sqlite").exists()


def test_a_failed_dataset_load_leaves_no_empty_folders(tmp_path):
    """Regression: PyG made ``root/Name/raw`` before the download failed, and left it empty."""
    (tmp_path / "Kept").mkdir()
    (tmp_path / "Kept" / "file.txt").write_text("x")

    def failing(root, split_seed=0):
        (root / "Broken" / "raw").mkdir(parents=True)
        (root / "Kept" / "processed").mkdir(parents=True)
        raise OSError("no network")

    with pytest.raises(DataError, match="no network"):
        load_dataset(DatasetSpec("Broken", failing), tmp_path / "data")
    assert not (tmp_path / "data").exists()
    shutil.copytree(tmp_path / "Kept", tmp_path / "data" / "Kept")
    with pytest.raises(DataError):
        load_dataset(DatasetSpec("Broken", failing), tmp_path / "data")
    assert sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "data").rglob("*")) == [
        "data/Kept", "data/Kept/file.txt"]


def test_opening_a_store_to_write_creates_nothing_until_the_first_write(tmp_path):
    """Bad input found after the store is opened (a bad option, an unknown name) leaves no file behind."""
    path = tmp_path / "new" / "folder" / "runs.sqlite"
    store = ResultsStore(path)
    assert store.done_keys() == set() and not store.has_status("oom")
    assert not (tmp_path / "new").exists()
    _store_with_a_run(path)
    assert path.is_file() and len(ResultsStore(path, read_only=True).frame()) == 1
