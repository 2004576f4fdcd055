"""Working with a graph-classification dataset (a sequence of PyG graphs with ``num_classes``,
:mod:`registry.tasks`): mini-batches of whole graphs, graph pooling, frozen graph embeddings.

An encoder for graph classification follows the node-level encoder contract (``forward(x, edge_index)``
gives node embeddings) and names its readout in a ``pooling`` attribute (``sum``, ``mean`` or ``max``;
``mean`` when it has none); :func:`embed_graphs` pools node embeddings into one row per graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Sequence

if TYPE_CHECKING:
    import torch
    from torch import nn
    from torch_geometric.data import Batch, Data

POOLINGS = ("sum", "mean", "max")


class GraphSet(list):
    """A list of PyG ``Data`` graphs (one label ``y`` each) that knows ``num_classes``, ``num_features`` and its ``name``."""

    def __init__(self, graphs: Iterable[Data], num_classes: int, name: str = ""):
        super().__init__(graphs)
        self.num_classes, self.name = int(num_classes), name

    @property
    def num_features(self) -> int:
        return int(self[0].num_features)

    def labels(self) -> torch.Tensor:
        """``[num_graphs]``: every graph's label."""
        import torch

        return torch.cat([g.y.view(-1) for g in self]).long()

    def like(self, graphs: Iterable[Data]) -> "GraphSet":
        """Other graphs (a transformed copy) with this set's class count and name."""
        return GraphSet(graphs, self.num_classes, self.name)


def pool(z: torch.Tensor, batch: torch.Tensor, pooling: str, num_graphs: int | None = None) -> torch.Tensor:
    """``[num_nodes, d]`` node rows → ``[num_graphs, d]`` by ``pooling`` over each graph's nodes."""
    from torch_geometric.nn import global_add_pool, global_max_pool, global_mean_pool

    readouts = {"sum": global_add_pool, "mean": global_mean_pool, "max": global_max_pool}
    if pooling not in readouts:
        raise ValueError(f"unknown pooling '{pooling}' ({', '.join(POOLINGS)})")
    return readouts[pooling](z, batch, num_graphs)


def graph_loader(graphs: Sequence[Data], batch_size: int, shuffle: bool = False):
    """A PyG ``DataLoader`` of mini-batches (``Batch``) of whole graphs; ``shuffle`` draws each epoch's
    order from torch's global RNG."""
    from torch_geometric.loader import DataLoader

    return DataLoader(list(graphs), batch_size=batch_size, shuffle=shuffle)


def embed_graphs(encoder: nn.Module, batch: Batch) -> torch.Tensor:
    """``[batch.num_graphs, d]``: the encoder's node embeddings of ``batch`` pooled per graph."""
    z = encoder(batch.x, batch.edge_index)
    return pool(z, batch.batch, getattr(encoder, "pooling", None) or "mean", batch.num_graphs)


def graph_embeddings(encoder: nn.Module, graphs: Sequence[Data], device: torch.device,
                     batch_size: int = 256) -> torch.Tensor:
    """Pooled embeddings ``[len(graphs), d]`` of every graph by the (frozen) ``encoder``, in eval mode."""
    import torch

    encoder.eval()
    with torch.no_grad():
        return torch.cat([embed_graphs(encoder, part.to(device)).cpu() for part in graph_loader(graphs, batch_size)])


def as_one_graph(data: Data | Sequence[Data]) -> Data:
    """A one-graph dataset as is; a set of graphs as one disconnected graph (a PyG ``Batch``), e.g. to
    compare an encoder's layers over the nodes of every graph."""
    from torch_geometric.data import Batch

    return data if hasattr(data, "edge_index") else Batch.from_data_list(list(data))
