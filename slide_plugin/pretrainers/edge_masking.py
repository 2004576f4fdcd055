"""MaskGAE's edge masking: uniform random walks (pure torch) and path / edge masks.

:func:`random_walk` replaces ``torch_cluster.random_walk`` with ``p = q = 1`` (no wheel exists for
the torch in use): from every start node, each step moves along an out-edge chosen uniformly; a node
without out-edges stays put and reports edge ``-1``, as torch-cluster does.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.utils import sort_edge_index, to_undirected


def random_walk(rowptr: Tensor, col: Tensor, start: Tensor, walk_length: int) -> tuple[Tensor, Tensor]:
    """Uniform walks on a CSR graph. Returns nodes ``[S, walk_length + 1]`` and the traversed edge ids
    ``[S, walk_length]`` (positions in ``col``; ``-1`` where the walk was stuck)."""
    nodes, edges = [start], []
    current = start
    for _ in range(walk_length):
        begin, deg = rowptr[current], rowptr[current + 1] - rowptr[current]
        offset = (torch.rand(current.numel(), device=start.device) * deg).long()
        edge = torch.where(deg > 0, begin + offset, torch.full_like(begin, -1))
        current = torch.where(deg > 0, col[edge.clamp(min=0)], current)
        nodes.append(current)
        edges.append(edge)
    return torch.stack(nodes, dim=1), torch.stack(edges, dim=1)


def mask_path(edge_index: Tensor, num_nodes: int, p: float, walk_length: int,
              start: str = "node") -> tuple[Tensor, Tensor]:
    """Mask the edges walked by uniform random walks from ``round(p · N)`` random start nodes
    (``start="node"``) or from the source nodes of the edges kept with probability ``p`` (``"edge"``).

    Returns ``(remaining, masked)``; ``remaining`` is made undirected again, so an edge leaves the
    encoder's graph only when both of its directions were walked (as the official ``MaskPath``)."""
    if start not in ("node", "edge"):
        raise ValueError(f"start must be 'node' or 'edge', got {start!r}")
    edge_index = sort_edge_index(edge_index, num_nodes=num_nodes)
    row, col = edge_index
    if start == "edge":
        starts = row[torch.rand(row.numel(), device=row.device) <= p]
    else:
        starts = torch.randperm(num_nodes, device=row.device)[: round(num_nodes * p)]
    rowptr = torch.zeros(num_nodes + 1, dtype=torch.long, device=row.device)
    rowptr[1:] = torch.bincount(row, minlength=num_nodes).cumsum(0)
    _, walked = random_walk(rowptr, col, starts, walk_length)
    keep = torch.ones(row.numel(), dtype=torch.bool, device=row.device)
    keep[walked[walked >= 0]] = False
    return to_undirected(edge_index[:, keep], num_nodes=num_nodes), edge_index[:, ~keep]


def mask_edge(edge_index: Tensor, num_nodes: int, p: float) -> tuple[Tensor, Tensor]:
    """Mask each directed edge independently with probability ``p``; ``remaining`` made undirected."""
    masked = torch.bernoulli(torch.full((edge_index.size(1),), p, device=edge_index.device)).bool()
    return to_undirected(edge_index[:, ~masked], num_nodes=num_nodes), edge_index[:, masked]
