"""Graph-classification datasets: TU benchmark collections (MUTAG, PROTEINS, NCI1, IMDB-BINARY, IMDB-MULTI)
through PyG's ``TUDataset``, as a :class:`registry.graphs.GraphSet`; and the seeded stratified folds that
the graph-classification heads evaluate on.

Node features are the one-hot node labels the TU files provide; graphs without them (IMDB) get a one-hot
node degree capped at 400, as GraphMAE does (``load_graph_classification_dataset``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from registry.components import DatasetSpec
from registry.datasets import writable_root
from registry.hookspecs import hookimpl

if TYPE_CHECKING:
    import torch

    from registry.graphs import GraphSet

MAX_DEGREE = 400  # GraphMAE's cap of the one-hot degree features
FOLDS = 10


def stratified_folds(labels: torch.Tensor, seed: int, folds: int = FOLDS) -> torch.Tensor:
    """The test fold (0..folds-1) of each sample: scikit-learn's shuffled ``StratifiedKFold`` from ``seed``."""
    import numpy as np
    import torch
    from sklearn.model_selection import StratifiedKFold

    fold = np.zeros(len(labels), dtype=np.int64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for index, (_, test) in enumerate(splitter.split(np.zeros(len(labels)), labels.numpy())):
        fold[test] = index
    return torch.from_numpy(fold)


def degree_features(graphs: list, cap: int = MAX_DEGREE) -> None:
    """Set ``x`` of each graph to its one-hot out-degree, capped at ``cap``; one width for all graphs."""
    import torch
    import torch.nn.functional as F
    from torch_geometric.utils import degree

    degrees = [degree(g.edge_index[0], g.num_nodes).long().clamp(max=cap) for g in graphs]
    width = int(max(int(d.max()) if d.numel() else 0 for d in degrees)) + 1
    for g, d in zip(graphs, degrees):
        g.x = F.one_hot(d, width).to(torch.float32)


def load_tu(name: str) -> Callable[..., GraphSet]:
    """A loader ``load(root, split_seed)`` of the TU collection ``name`` (``split_seed`` is unused: the
    evaluating head draws the folds)."""

    def load(root: Path, split_seed: int = 0) -> GraphSet:
        from torch_geometric.datasets import TUDataset

        from registry.graphs import GraphSet

        dataset = TUDataset(str(writable_root(root, name)), name)
        graphs = [dataset[i] for i in range(len(dataset))]
        if graphs[0].x is None:
            degree_features(graphs)
        return GraphSet(graphs, dataset.num_classes, name)

    return load


TU_DATASETS = {
    "MUTAG": "188 mutagenic compounds, 2 classes (TU; one-hot atom labels)",
    "PROTEINS": "1,113 protein structures, 2 classes (TU; one-hot node labels)",
    "NCI1": "4,110 chemical compounds, 2 classes (TU; one-hot atom labels)",
    "IMDB-BINARY": "1,000 movie ego-networks, 2 classes (TU; one-hot degree features)",
    "IMDB-MULTI": "1,500 movie ego-networks, 3 classes (TU; one-hot degree features)",
}


@hookimpl
def register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    for name, description in TU_DATASETS.items():
        register(DatasetSpec(name, load_tu(name), description, task="graph-classification"))
