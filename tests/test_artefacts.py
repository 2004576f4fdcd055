"""Cached artefacts besides encoders: PyG's processed files and the mirrors of read-only data roots are
checked before each load; a damaged one is set aside (never deleted), made again, and named in one
warning line, and the data equal what an intact cache gives."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from registry import datasets
from registry.artefacts import MANIFEST
from registry.datasets import BUILTIN, load_dataset

CORA = next(spec for spec in BUILTIN if spec.name == "Cora")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SLIDE_BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("slide-bench: warning:")]


def overwrite_middle(path: Path) -> None:
    """Some bytes overwritten in place: same size, same name (what a bad disk or a stray write does)."""
    content = bytearray(path.read_bytes())
    middle = len(content) // 2
    content[middle:middle + 32] = bytes(b ^ 0x5A for b in content[middle:middle + 32])
    path.write_bytes(bytes(content))


def same_graph(a, b) -> bool:
    return all(torch.equal(getattr(a, k), getattr(b, k)) for k in ("x", "edge_index", "y", "train_mask", "test_mask"))


def test_damaged_processed_file_is_set_aside_and_made_again(tmp_path, cache, capsys):
    root = tmp_path / "root"
    shutil.copytree(datasets.EMBEDDED / "Cora" / "raw", root / "Cora" / "raw")
    original = load_dataset(CORA, root)
    processed = root / "Cora" / "processed"
    assert (processed / MANIFEST).is_file()  # sealed when made
    assert same_graph(load_dataset(CORA, root), original)
    capsys.readouterr()
    assert warnings(capsys.readouterr().err) == []  # an intact cache is read as is

    overwrite_middle(processed / "data.pt")
    again = load_dataset(CORA, root)
    lines = warnings(capsys.readouterr().err)
    assert len(lines) == 1 and "processed files of Cora" in lines[0] and "checksum mismatch: data.pt" in lines[0]
    aside = list((root / "Cora").glob("processed.bad-*"))
    assert len(aside) == 1 and (aside[0] / "data.pt").is_file()  # kept, never deleted
    assert same_graph(again, original)


def test_processed_files_made_from_other_raw_files_are_made_again(tmp_path, cache, capsys):
    root = tmp_path / "root"
    shutil.copytree(datasets.EMBEDDED / "Cora" / "raw", root / "Cora" / "raw")
    load_dataset(CORA, root)
    (root / "Cora" / "raw" / "ind.cora.test.index").write_text("\n".join(map(str, range(1708, 2708))) + "\n")
    load_dataset(CORA, root)
    lines = warnings(capsys.readouterr().err)
    assert len(lines) == 1 and "made from other sources" in lines[0]


def test_damaged_mirror_file_is_set_aside_and_copied_again(tmp_path, cache, capsys):
    root = tmp_path / "shared"
    shutil.copytree(datasets.EMBEDDED / "Cora" / "raw", root / "Cora" / "raw")
    for path in [root, *root.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        original = load_dataset(CORA, root)  # mirrored into the cache: the root is read-only
        mirrored = next(cache.glob("mirrors/*/Cora/raw/ind.cora.allx"))
        overwrite_middle(mirrored)
        again = load_dataset(CORA, root)
    finally:
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    lines = warnings(capsys.readouterr().err)
    assert any("mirrored dataset file" in line and "ind.cora.allx" in line for line in lines), lines
    assert list(mirrored.parent.glob("ind.cora.allx.bad-*"))
    assert same_graph(again, original)
