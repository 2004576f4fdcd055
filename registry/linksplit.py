"""Link-prediction datasets: a node dataset's graph under a seeded random link split (MaskGAE's setting).

:func:`link_split` makes the graph undirected and splits its edges as PyG's ``RandomLinkSplit`` with 5%
validation and 10% test edges (``num_val=0.05, num_test=0.1``, MaskGAE's ``train_linkpred.py``), each
with as many sampled non-edges. The returned ``Data`` is the link-prediction contract of
:mod:`registry.tasks`: ``edge_index`` holds the training edges only (what pretraining and fine-tuning
see), ``val_*``/``test_*_edge_index`` the held-out positive and negative edges, and ``test_edge_index``
the edges visible when testing (training + validation, as ``RandomLinkSplit``'s test graph). The split
is drawn from a generator seeded with ``split_seed`` only: every pretraining seed sees the same split.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from registry.components import DatasetSpec
from registry.tasks import LINK

if TYPE_CHECKING:
    from torch_geometric.data import Data

NUM_VAL, NUM_TEST = 0.05, 0.1


def link_split(data: Data, seed: int, num_val: float = NUM_VAL, num_test: float = NUM_TEST) -> Data:
    """``data``'s nodes and features with its undirected edges split for link prediction (module docstring)."""
    import torch
    import torch_geometric.transforms as T
    from torch_geometric.data import Data
    from torch_geometric.utils import to_undirected

    n = data.num_nodes
    graph = Data(x=data.x, edge_index=to_undirected(data.edge_index, num_nodes=n), num_nodes=n)
    split = T.RandomLinkSplit(num_val=num_val, num_test=num_test, is_undirected=True, split_labels=True,
                              add_negative_train_samples=False)
    state = random.getstate()  # PyG samples non-edges with Python's random module
    with torch.random.fork_rng(devices=[]):  # the split depends on split_seed only, not on the caller's RNGs
        torch.manual_seed(seed)
        random.seed(seed)
        try:
            train, val, test = split(graph)
        finally:
            random.setstate(state)
    out = Data(x=data.x, edge_index=train.edge_index, num_nodes=n,
               val_pos_edge_index=val.pos_edge_label_index, val_neg_edge_index=val.neg_edge_label_index,
               test_pos_edge_index=test.pos_edge_label_index, test_neg_edge_index=test.neg_edge_label_index,
               test_edge_index=test.edge_index)
    out.name = f"{getattr(data, 'name', 'graph')}-link"
    return out


def link_dataset(node_spec: DatasetSpec) -> DatasetSpec:
    """The link-prediction dataset ``<name>-link`` over a node dataset's graph."""
    load: Callable[..., Data] = node_spec.load

    def load_link(root: Path, split_seed: int = 0) -> Data:
        return link_split(load(root, split_seed=split_seed), split_seed)

    return DatasetSpec(f"{node_spec.name}-link", load_link, f"{node_spec.name}'s graph, random link split "
                       f"{NUM_VAL:.0%} val / {NUM_TEST:.0%} test edges (MaskGAE)", task=LINK)
