"""Built-in datasets (a core plugin): Planetoid, Amazon and ogbn-arxiv through the PyG / OGB loaders, and the
Planetoid graphs for link prediction (``Cora-link``, ...: :mod:`registry.linksplit`).

Data root: ``--data-root``, else ``$SLIDE_DATA_ROOT``, else a per-user cache folder. Online, the
loaders download into it as usual; offline, it must hold the raw files in the loaders' layout.
Cora's raw files ship inside the package, so Cora always loads with no network. A read-only root
(such as a shared dataset folder) is mirrored into the cache, all but ``processed/``, before loading.
Mirrors and processed files are checked before each load (:mod:`registry.artefacts`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from registry.artefacts import digests, mirror_tree, sealed
from registry.components import DatasetSpec
from registry.errors import DataError, SlideBenchError, require_extra
from registry.hookspecs import hookimpl
from registry.linksplit import link_dataset

if TYPE_CHECKING:
    import torch
    from torch_geometric.data import Data

EMBEDDED = Path(__file__).parent / "data"
PLANETOID_FILES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
_MISSING = object()


def cache_dir() -> Path:
    """Per-user cache: ``$SLIDE_BENCH_CACHE``, else ``$XDG_CACHE_HOME/slide-bench``, else ``~/.cache/slide-bench``."""
    if os.environ.get("SLIDE_BENCH_CACHE"):
        return Path(os.environ["SLIDE_BENCH_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "slide-bench"


def data_root(explicit: str | os.PathLike | None = None) -> Path:
    """``explicit`` (``--data-root``), else ``$SLIDE_DATA_ROOT``, else ``<cache_dir()>/datasets``."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get("SLIDE_DATA_ROOT"):
        return Path(os.environ["SLIDE_DATA_ROOT"]).expanduser()
    return cache_dir() / "datasets"


def _writable(path: Path) -> bool:
    """Writable for us. ``os.access`` alone says yes to root even on an ``r-x`` folder."""
    return os.access(path, os.W_OK) and bool(path.stat().st_mode & 0o222)


def mirror(root: Path, folder: str) -> Path:
    """A cache copy of ``root/folder`` without ``processed/`` (the loaders write their own there); a
    copied file that differs from its source is set aside and copied again (:mod:`registry.artefacts`)."""
    copy = cache_dir() / "mirrors" / hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:12]
    if (root / folder).is_dir():
        mirror_tree(root / folder, copy / folder)
    return copy


def processed(folder: Path, loader: str) -> contextlib.AbstractContextManager[None]:
    """Around a PyG/OGB ``loader`` reading ``folder``'s raw files into ``folder/processed``: the processed
    files are verified against what they were made from, set aside when damaged, sealed when new."""
    from torch_geometric import __version__ as pyg_version

    def key() -> dict[str, object]:
        return {"loader": loader, "torch_geometric": pyg_version, "sources": digests(folder, skip=("processed",))}

    lock = cache_dir() / "locks" / f"processed-{hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:12]}.lock"
    return sealed(folder / "processed", key, f"processed files of {folder.name}", lock)


def writable_root(root: Path, folder: str) -> Path:
    """``root`` if the loader can write ``root/folder`` (created if missing), else ``mirror(root, folder)``.

    The loaders write ``processed/`` next to ``raw/`` (and download into ``root``), so a read-only
    root such as a shared dataset folder is never written to.
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError:
        return mirror(root, folder)
    paths = (root, root / folder, root / folder / "processed")
    return root if all(_writable(p) for p in paths if p.exists()) else mirror(root, folder)


def _seeded_split(num_nodes: int, seed: int, train: float = 0.1, val: float = 0.1) -> tuple[torch.Tensor, ...]:
    """Random train/val/test masks (10%/10%/80% by default) from a generator seeded with ``seed``."""
    import torch

    perm = torch.randperm(num_nodes, generator=torch.Generator().manual_seed(seed))
    n_train, n_val = int(round(train * num_nodes)), int(round(val * num_nodes))
    masks = []
    for idx in (perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]):
        mask = torch.zeros(num_nodes, dtype=torch.bool)
        mask[idx] = True
        masks.append(mask)
    return tuple(masks)


def _finish(data: Data, name: str, num_classes: int) -> Data:
    data.y = data.y.view(-1).long()
    data.num_classes = int(num_classes)
    data.name = name
    return data


def load_planetoid(name: str) -> Callable[..., Data]:
    def load(root: Path, split_seed: int = 0) -> Data:
        from torch_geometric.datasets import Planetoid

        raw = root / name / "raw"
        if name == "Cora" and not all((raw / f"ind.cora.{f}").exists() for f in PLANETOID_FILES):
            root = mirror(EMBEDDED, name)  # the package's own copy: never written to
        else:
            root = writable_root(root, name)
        with processed(root / name, "Planetoid"):
            dataset = Planetoid(str(root), name)  # public split
        return _finish(dataset[0], name, dataset.num_classes)

    return load


def load_amazon(name: str) -> Callable[..., Data]:
    def load(root: Path, split_seed: int = 0) -> Data:
        from torch_geometric.datasets import Amazon

        root = writable_root(root, name)
        with processed(root / name, "Amazon"):
            dataset = Amazon(str(root), name)
        data = dataset[0]
        data.train_mask, data.val_mask, data.test_mask = _seeded_split(data.num_nodes, split_seed)
        return _finish(data, name, dataset.num_classes)

    return load


def _import_ogb_quietly() -> None:
    """Import ogb without the version check that its import starts in a thread (over the network,
    with no timeout): ogb skips it when ``from outdated import ...`` fails."""
    if sys.modules.get("ogb") is not None:
        return
    saved = sys.modules.get("outdated", _MISSING)
    sys.modules["outdated"] = None  # type: ignore[assignment]
    try:
        require_extra("ogb", "ogb", "ogbn-arxiv")
    finally:
        if saved is _MISSING:
            del sys.modules["outdated"]
        else:
            sys.modules["outdated"] = saved  # type: ignore[assignment]


def _allow_pyg_pickles() -> None:
    """ogb 1.3.6 ``torch.load``s its processed file, which torch >= 2.6 refuses without these."""
    import torch
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import GlobalStorage

    torch.serialization.add_safe_globals([DataEdgeAttr, DataTensorAttr, GlobalStorage])


def load_arxiv(root: Path, split_seed: int = 0) -> Data:
    import torch

    _import_ogb_quietly()
    _allow_pyg_pickles()
    from ogb.nodeproppred import PygNodePropPredDataset
    from torch_geometric.utils import to_undirected

    target = writable_root(root, "ogbn_arxiv")
    for folder in (root / "ogbn_arxiv", target / "ogbn_arxiv"):  # else ogb asks on stdin whether to re-download
        if folder.is_dir() and not (folder / "RELEASE_v1.txt").exists():
            raise DataError(f"{folder} lacks ogb's RELEASE_v1.txt: restore it, or remove the folder to re-download")
    with processed(target / "ogbn_arxiv", "ogbn-arxiv"):
        dataset = PygNodePropPredDataset("ogbn-arxiv", root=str(target))
    data = dataset[0]
    split = dataset.get_idx_split()
    for key, mask_name in (("train", "train_mask"), ("valid", "val_mask"), ("test", "test_mask")):
        mask = torch.zeros(data.num_nodes, dtype=torch.bool)
        mask[split[key]] = True
        data[mask_name] = mask
    data.edge_index = to_undirected(data.edge_index, num_nodes=data.num_nodes)
    del data.node_year
    return _finish(data, "ogbn-arxiv", dataset.num_classes)


BUILTIN = (
    DatasetSpec("Cora", load_planetoid("Cora"), "Planetoid citation graph, public split 140/500/1000 (ships with the package)"),
    DatasetSpec("CiteSeer", load_planetoid("CiteSeer"), "Planetoid citation graph, public split 120/500/1000"),
    DatasetSpec("PubMed", load_planetoid("PubMed"), "Planetoid citation graph, public split 60/500/1000"),
    DatasetSpec("Photo", load_amazon("Photo"), "Amazon co-purchase graph, seeded random 10/10/80 split"),
    DatasetSpec("Computers", load_amazon("Computers"), "Amazon co-purchase graph, seeded random 10/10/80 split"),
    DatasetSpec("ogbn-arxiv", load_arxiv, "OGB citation graph (made undirected), official time split"),
)
BUILTIN += tuple(link_dataset(spec) for spec in BUILTIN[:3])  # Cora-link, CiteSeer-link, PubMed-link


@hookimpl
def register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    for spec in BUILTIN:
        register(spec)


def load_dataset(spec: DatasetSpec, root: str | os.PathLike | None = None, split_seed: int = 0) -> Data:
    """Load through the spec's loader; loader failures become one-line ``DataError``s."""
    path = data_root(root)
    if path.exists() and not path.is_dir():
        raise DataError(f"data root {path} is a file, not a folder: pass --data-root FOLDER")
    before = _folders(path)
    try:
        return spec.load(path, split_seed=split_seed)
    except Exception as exc:
        _remove_new_empty_folders(path, before)
        if isinstance(exc, SlideBenchError):  # already one readable line (a missing extra, a corrupt release)
            raise
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())  # missing raw files and no network, corrupt files
        raise DataError(f"Could not load dataset '{spec.name}' from {path} (are its raw files there, "
                        f"or can they be downloaded?): {reason}") from exc


def _folders(root: Path, depth: int = 3) -> set[Path]:
    """``root`` and the folders under it, ``depth`` levels deep (a loader's ``name/raw`` and ``processed``)."""
    found, level = set(), [root] if root.is_dir() else []
    for _ in range(depth + 1):
        found.update(level)
        level = [child for folder in level for child in folder.iterdir() if child.is_dir() and not child.is_symlink()]
    return found


def _remove_new_empty_folders(root: Path, before: set[Path]) -> None:
    """After a failed load: remove the empty folders the loader made (files and older folders stay)."""
    for folder in sorted(_folders(root) - before, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only succeeds when empty
