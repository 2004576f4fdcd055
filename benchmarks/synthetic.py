"""A seeded random graph of ogbn-arxiv's size, for timing where the real one is not available offline.

169,343 nodes; 1,166,243 random directed pairs made undirected (≈2.3M directed edges, as ogbn-arxiv
after ``to_undirected``); 128 Gaussian features; 40 classes; train/val/test of the official
time split's sizes (90,941 / 29,799 / 48,603) drawn at random. Uniform random edges have less
locality than a citation graph, so message passing may run a little slower than on the real graph.
"""

from __future__ import annotations

import torch
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

NAME = "ogbn-arxiv-synthetic"
OPTIONS_DATASET = "ogbn-arxiv"  # whose official configuration sizes the models
NUM_NODES, NUM_PAIRS, NUM_FEATURES, NUM_CLASSES = 169_343, 1_166_243, 128, 40
SPLIT = (90_941, 29_799, 48_603)


def arxiv_sized_graph(seed: int = 0) -> Data:
    g = torch.Generator().manual_seed(seed)
    pairs = torch.randint(0, NUM_NODES, (2, NUM_PAIRS), generator=g)
    pairs = pairs[:, pairs[0] != pairs[1]]
    edge_index = to_undirected(pairs, num_nodes=NUM_NODES)
    data = Data(x=torch.randn(NUM_NODES, NUM_FEATURES, generator=g), edge_index=edge_index,
                y=torch.randint(0, NUM_CLASSES, (NUM_NODES,), generator=g))
    perm = torch.randperm(NUM_NODES, generator=g)
    start = 0
    for name, size in zip(("train_mask", "val_mask", "test_mask"), SPLIT):
        mask = torch.zeros(NUM_NODES, dtype=torch.bool)
        mask[perm[start:start + size]] = True
        data[name] = mask
        start += size
    data.num_classes, data.name = NUM_CLASSES, NAME
    return data


def arxiv_like_edges(fraction: float, seed: int = 0) -> tuple[torch.Tensor, int]:
    """``(edge_index, num_nodes)`` of a random graph with ``fraction`` of the synthetic graph's nodes and
    random pairs (the same average degree), made undirected: for measuring one layer where the whole
    graph would not fit the baseline."""
    g = torch.Generator().manual_seed(seed)
    nodes, num_pairs = max(2, round(NUM_NODES * fraction)), max(1, round(NUM_PAIRS * fraction))
    pairs = torch.randint(0, nodes, (2, num_pairs), generator=g)
    return to_undirected(pairs[:, pairs[0] != pairs[1]], num_nodes=nodes), nodes
