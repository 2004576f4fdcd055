"""The receptive field of a batch of nodes, layer by layer: the nodes and edges each layer of an encoder
must compute on so that the batch's embeddings equal the rows of a full-graph forward.

Layer ``l`` of ``L`` only needs exact outputs on the nodes within ``L - 1 - l`` hops of the batch: the
last layer on the batch itself. A block that reads its neighbours' full degrees (GCN normalisation,
``extra_hops = 1``) also needs every in-edge of the nodes one hop further out. So each layer reads the
edges into the nodes within its *edge radius* and keeps the output rows within the radius the next
layer reads: on a batch of a few hundred nodes the last layer touches a few thousand edges, not the
graph's, even where the batch's full receptive field covers most of the graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor


@dataclass
class ReceptiveField:
    """Local graph of a batch. ``nodes [n]``: global ids ordered by hop distance from the batch (the
    batch first, in its order); ``layer_edges[l] [2, E_l]``: local edges layer ``l`` reads;
    ``layer_rows[l]``: leading rows of its output the next layer reads (the batch size for the last)."""

    nodes: Tensor
    layer_edges: list[Tensor]
    layer_rows: list[int]

    @property
    def batch_size(self) -> int:
        return self.layer_rows[-1]


def layer_radii(extra_hops: Sequence[int]) -> tuple[list[int], list[int], int]:
    """For blocks reading ``extra_hops`` beyond their neighbours: per layer, the radius (hops from the
    batch) of the nodes whose in-edges it reads and of the nodes whose outputs it keeps, and the radius
    of the input rows the first layer reads."""
    layers = len(extra_hops)
    edge_radius = [layers - 1 - layer + extra for layer, extra in enumerate(extra_hops)]
    input_radius = [radius + 1 for radius in edge_radius]
    for layer in reversed(range(layers - 1)):  # a layer keeps at least the rows the next one reads
        input_radius[layer] = max(input_radius[layer], input_radius[layer + 1])
    return edge_radius, input_radius[1:] + [0], input_radius[0]


def receptive_field(batch: Tensor, edge_index: Tensor, num_nodes: int, extra_hops: Sequence[int]) -> ReceptiveField:
    """The :class:`ReceptiveField` of the distinct nodes ``batch [b]`` in the graph ``edge_index [2, E]``
    (messages flow from ``edge_index[0]`` to ``edge_index[1]``) for an encoder whose blocks read
    ``extra_hops`` (one entry per block) beyond their neighbours. Costs O(E) per hop."""
    if batch.unique().numel() != batch.numel():
        raise ValueError("the batch holds repeated nodes")
    edge_radius, keep_radius, hops = layer_radii(extra_hops)
    source, target = edge_index
    distance = torch.full((num_nodes,), hops + 1, dtype=torch.long, device=batch.device)
    distance[batch] = 0
    rings, reached = [batch], torch.zeros(num_nodes, dtype=torch.bool, device=batch.device)
    for hop in range(1, hops + 1):
        reached[source[distance[target] == hop - 1]] = True
        ring = (reached & (distance > hop)).nonzero().view(-1)
        distance[ring] = hop
        rings.append(ring)
    nodes = torch.cat(rings)
    within = torch.tensor([ring.numel() for ring in rings]).cumsum(0).tolist()
    local = torch.empty(num_nodes, dtype=torch.long, device=batch.device)
    local[nodes] = torch.arange(nodes.numel(), device=batch.device)
    target_distance = distance[target]
    layer_edges = [local[edge_index[:, target_distance <= radius]] for radius in edge_radius]
    return ReceptiveField(nodes, layer_edges, [within[radius] for radius in keep_radius])
