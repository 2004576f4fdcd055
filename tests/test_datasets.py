"""The built-in datasets: published counts and splits, the data root, read-only roots, the embedded
Cora, PubMed and ogbn-arxiv through their raw layouts, and the ogb pitfalls."""

from __future__ import annotations

import gzip
import importlib.util
import io
import os
import pickle
import shutil
import subprocess
import sys
import threading
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from registry import datasets
from registry.datasets import BUILTIN, data_root, load_dataset
from registry.errors import DataError

REPO = Path(__file__).resolve().parent.parent
SPECS = {spec.name: spec for spec in BUILTIN}

# name: (nodes, directed edges, features, classes, (train, val, test))
PUBLISHED = {
    "Cora": (2708, 10556, 1433, 7, (140, 500, 1000)),
    "CiteSeer": (3327, 9104, 3703, 6, (120, 500, 1000)),
    "Photo": (7650, 238162, 745, 8, (765, 765, 6120)),
    "Computers": (13752, 491722, 767, 10, (1375, 1375, 11002)),
}


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` with its size and modification time."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection in this process fails (the loaders turn it into a DataError)."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


# Published datasets from the offline folder ------------------------------------------------------------------


@pytest.mark.datasets
@pytest.mark.parametrize("name", list(PUBLISHED))
def test_published_counts_and_splits(name: str, shared_datasets: Path) -> None:
    before = snapshot(shared_datasets)
    data = load_dataset(SPECS[name], shared_datasets, split_seed=0)
    nodes, edges, features, classes, split = PUBLISHED[name]
    assert (data.num_nodes, data.num_edges, data.num_features, data.num_classes) == (nodes, edges, features, classes)
    assert int(data.y.max()) + 1 == classes and data.y.shape == (nodes,)
    masks = torch.stack([data.train_mask, data.val_mask, data.test_mask])
    assert tuple(masks.sum(1).tolist()) == split
    assert int(masks.sum(0).max()) == 1  # disjoint
    assert snapshot(shared_datasets) == before  # the read-only folder is never written to


@pytest.mark.datasets
@pytest.mark.parametrize("name", ["Photo", "Computers"])
def test_amazon_split_is_seeded(name: str, shared_datasets: Path) -> None:
    def masks(seed: int) -> torch.Tensor:
        data = load_dataset(SPECS[name], shared_datasets, split_seed=seed)
        return torch.stack([data.train_mask, data.val_mask, data.test_mask])

    first, again, other = masks(0), masks(0), masks(1)
    assert torch.equal(first, again)
    assert not torch.equal(first[0], other[0]) and not torch.equal(first[2], other[2])
    for m in (first, other):
        assert torch.equal(m.sum(0), torch.ones(m.size(1), dtype=torch.long))  # disjoint and covering


@pytest.mark.datasets
def test_planetoid_public_split_is_the_published_one(shared_datasets: Path) -> None:
    data = load_dataset(SPECS["Cora"], shared_datasets)
    assert data.train_mask.nonzero().view(-1).tolist() == list(range(140))
    assert data.val_mask.nonzero().view(-1).tolist() == list(range(140, 640))
    assert torch.bincount(data.y[data.train_mask]).tolist() == [20] * 7


# Data root, read-only roots, embedded Cora -------------------------------------------------------------------


def test_data_root_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SLIDE_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SLIDE_DATA_ROOT", raising=False)
    assert data_root() == tmp_path / "cache" / "datasets"
    monkeypatch.setenv("SLIDE_DATA_ROOT", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "explicit") == tmp_path / "explicit"
    monkeypatch.delenv("SLIDE_BENCH_CACHE")
    monkeypatch.delenv("SLIDE_DATA_ROOT")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_root() == tmp_path / "xdg" / "slide-bench" / "datasets"


def test_embedded_cora_loads_with_an_empty_root_and_no_network(tmp_path: Path) -> None:
    data = load_dataset(SPECS["Cora"], tmp_path / "empty")
    assert (data.num_nodes, data.num_edges, data.num_features) == PUBLISHED["Cora"][:3]
    assert int(data.train_mask.sum()) == 140
    assert not (datasets.EMBEDDED / "Cora" / "processed").exists()  # the package folder is not written to


@pytest.fixture
def read_only():
    """``read_only(folder)`` makes a folder tree read-only (for everyone, by its mode), until the test ends."""
    folders: list[Path] = []

    def make(folder: Path) -> None:
        folders.append(folder)
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)

    yield make
    for folder in folders:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_read_only_root_is_mirrored_not_written(tmp_path: Path, read_only) -> None:
    """As root, ``os.access`` calls every folder writable: the mode bits must be checked too."""
    root = tmp_path / "shared"
    shutil.copytree(datasets.EMBEDDED / "Cora" / "raw", root / "Cora" / "raw")
    read_only(root)
    before = snapshot(root)
    for _ in range(2):  # the second load reads the mirror's processed/ file
        assert load_dataset(SPECS["Cora"], root).num_nodes == 2708
    assert snapshot(root) == before
    assert datasets.writable_root(root, "Cora") != root


# PubMed through Planetoid's raw layout -------------------------------------------------------------------------


def write_planetoid(raw: Path, prefix: str, num_train: int = 6, num_test: int = 30, num_features: int = 5,
                    num_classes: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    """A small graph in Planetoid's raw layout: ``x``/``tx``/``allx`` pickled scipy sparse matrices,
    ``y``/``ty``/``ally`` numpy one-hot arrays, ``graph`` a dict of adjacency lists, ``test.index``
    one node id per line. Training nodes come first in ``allx``, then the 500 validation nodes; test
    nodes follow ``allx`` in shuffled id order, as in the originals."""
    rng = np.random.default_rng(seed)
    num_all = num_train + 500 + 4  # the public split takes 500 validation nodes after the training ones
    n = num_all + num_test
    labels = rng.integers(num_classes, size=n)
    features = sp.csr_matrix(rng.random((n, num_features)) < 0.3, dtype=np.float32)
    test_index = rng.permutation(np.arange(num_all, n))
    graph = defaultdict(list)
    for u, v in zip(rng.integers(n, size=3 * n), rng.integers(n, size=3 * n)):
        graph[int(u)].append(int(v))
        graph[int(v)].append(int(u))
    one_hot = np.eye(num_classes, dtype=np.int64)
    arrays = {"x": features[:num_train], "allx": features[:num_all], "tx": features[test_index],
              "y": one_hot[labels[:num_train]], "ally": one_hot[labels[:num_all]], "ty": one_hot[labels[test_index]],
              "graph": graph}
    raw.mkdir(parents=True)
    for key, value in arrays.items():
        with open(raw / f"ind.{prefix}.{key}", "wb") as f:
            pickle.dump(value, f, protocol=2)
    (raw / f"ind.{prefix}.test.index").write_text("".join(f"{i}\n" for i in test_index))
    return {"labels": labels, "test_index": test_index, "num_train": num_train}


def test_pubmed_loads_offline_from_planetoid_raw_layout(tmp_path: Path) -> None:
    truth = write_planetoid(tmp_path / "PubMed" / "raw", "pubmed")
    data = load_dataset(SPECS["PubMed"], tmp_path)
    assert data.name == "PubMed" and data.num_nodes == len(truth["labels"]) and data.num_classes == 3
    assert torch.equal(data.y, torch.from_numpy(truth["labels"]))
    assert data.train_mask.nonzero().view(-1).tolist() == list(range(truth["num_train"]))
    assert data.val_mask.nonzero().view(-1).tolist() == list(range(truth["num_train"], truth["num_train"] + 500))
    assert data.test_mask.nonzero().view(-1).tolist() == sorted(truth["test_index"].tolist())
    assert (tmp_path / "PubMed" / "processed" / "data.pt").exists()  # a writable root is used in place


# ogbn-arxiv through ogb's raw layout ---------------------------------------------------------------------------


def write_csv_gz(path: Path, rows: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = rows.reshape(len(rows), -1)
    with gzip.open(path, "wt") as f:
        f.writelines(",".join(str(v) for v in row) + "\n" for row in rows)


def write_arxiv(root: Path, n: int = 40, num_edges: int = 80, seed: int = 0) -> dict[str, np.ndarray]:
    """A small directed graph in ogb's ogbn-arxiv layout (``RELEASE_v1.txt``, ``raw/*.csv.gz``, time split)."""
    rng = np.random.default_rng(seed)
    folder = root / "ogbn_arxiv"
    edges = rng.integers(n, size=(num_edges, 2))
    raw = {"edge": edges, "node-feat": rng.standard_normal((n, 8)).round(4), "node-label": rng.integers(40, size=n),
           "node_year": rng.integers(2010, 2021, size=n), "num-node-list": np.array([n]),
           "num-edge-list": np.array([num_edges])}
    for name, rows in raw.items():
        write_csv_gz(folder / "raw" / f"{name}.csv.gz", rows)
    perm = rng.permutation(n)
    split = {"train": np.sort(perm[:20]), "valid": np.sort(perm[20:30]), "test": np.sort(perm[30:])}
    for name, idx in split.items():
        write_csv_gz(folder / "split" / "time" / f"{name}.csv.gz", idx)
    (folder / "RELEASE_v1.txt").write_text("ogbn-arxiv release v1 (synthetic test graph)\n")
    return {**raw, **split}


@pytest.mark.parametrize("writable", [True, False])
def test_arxiv_loads_offline_undirected_with_official_split(tmp_path: Path, writable: bool, read_only) -> None:
    truth = write_arxiv(tmp_path)
    if not writable:
        read_only(tmp_path)
    before = snapshot(tmp_path)
    for _ in range(2):  # the second load reads processed/, which torch >= 2.6 refuses without safe globals
        data = load_dataset(SPECS["ogbn-arxiv"], tmp_path)
    if writable:  # used in place
        assert (tmp_path / "ogbn_arxiv" / "processed" / "geometric_data_processed.pt").exists()
    else:  # mirrored (RELEASE_v1.txt and split/ too), never written to
        assert snapshot(tmp_path) == before
    assert data.name == "ogbn-arxiv" and data.num_nodes == 40 and data.num_classes == 40
    assert torch.equal(data.y, torch.from_numpy(truth["node-label"]))
    pairs = {tuple(e) for e in data.edge_index.t().tolist()}
    directed = {(int(u), int(v)) for u, v in truth["edge"]}
    assert pairs == directed | {(v, u) for u, v in directed}
    for key, mask in (("train", data.train_mask), ("valid", data.val_mask), ("test", data.test_mask)):
        assert mask.nonzero().view(-1).tolist() == truth[key].tolist()
    assert "node_year" not in data


def test_ogb_processed_file_needs_safe_globals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ogb's own ``torch.load`` of its processed file fails under torch >= 2.6 without our safe globals."""
    from ogb.nodeproppred import PygNodePropPredDataset
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import GlobalStorage

    write_arxiv(tmp_path)
    load_dataset(SPECS["ogbn-arxiv"], tmp_path)  # processes, then reloads processed/ with the fix
    serialization, saved = torch.serialization, torch.serialization.get_safe_globals()
    try:
        serialization.clear_safe_globals()
        serialization.add_safe_globals([g for g in saved if g not in (DataEdgeAttr, DataTensorAttr, GlobalStorage)])
        with pytest.raises(pickle.UnpicklingError, match="Unsupported global: GLOBAL torch_geometric.data.data"):
            PygNodePropPredDataset("ogbn-arxiv", root=str(tmp_path))
    finally:
        serialization.clear_safe_globals()
        serialization.add_safe_globals(saved)
    assert load_dataset(SPECS["ogbn-arxiv"], tmp_path).num_nodes == 40


def exec_fresh(module_name: str) -> None:
    """Run a module's code again, as a first import would."""
    spec = importlib.util.find_spec(module_name)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


def test_import_ogb_starts_no_version_check(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[threading.Thread] = []
    monkeypatch.setattr(threading.Thread, "start", lambda thread: started.append(thread))
    exec_fresh("ogb.version")
    assert started  # unguarded, ogb's import starts the network version check in a thread
    count = len(started)
    for name in [m for m in sys.modules if m == "ogb" or m.startswith("ogb.")]:
        monkeypatch.delitem(sys.modules, name)  # restored after the test
    outdated = sys.modules["outdated"]
    datasets._import_ogb_quietly()
    assert "ogb.version" in sys.modules and len(started) == count
    assert sys.modules["outdated"] is outdated  # only blocked during ogb's import


def test_arxiv_folder_without_release_marker_is_a_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ogb.nodeproppred import PygNodePropPredDataset

    write_arxiv(tmp_path)
    (tmp_path / "ogbn_arxiv" / "RELEASE_v1.txt").unlink()
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # closed stdin, as under CI
    with pytest.raises(EOFError):  # the pitfall: ogb asks "Will you update the dataset now? (y/N)"
        PygNodePropPredDataset("ogbn-arxiv", root=str(tmp_path))
    with pytest.raises(DataError, match="RELEASE_v1.txt") as error:
        load_dataset(SPECS["ogbn-arxiv"], tmp_path)
    assert "\n" not in str(error.value)


def test_offline_datasets_folder_missing_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from conftest import offline_datasets

    monkeypatch.setenv("SLIDE_TEST_DATASETS", str(tmp_path / "absent"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        offline_datasets()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="absent"):
        offline_datasets()
    monkeypatch.setenv("SLIDE_TEST_DATASETS", str(tmp_path))
    assert offline_datasets() == tmp_path


# Errors --------------------------------------------------------------------------------------------------------


def test_missing_dataset_is_one_error_line(tmp_path: Path) -> None:
    """Raw files missing and no network: exit code 2 and one line on stderr (the only test that tries
    the network, which fails fast offline; the timeout guards against a hang)."""
    command = [sys.executable, "-m", "registry.cli", "run", "--dataset", "PubMed", "--data-root",
               str(tmp_path / "empty"), "--preset", "quick", "--store", str(tmp_path / "runs.sqlite"), "--quiet"]
    env = {key: value for key, value in os.environ.items() if key != "PYTEST_CURRENT_TEST"}  # PyG logs as usual
    result = subprocess.run(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("slide-bench: error:") and "PubMed" in lines[0], result.stderr
