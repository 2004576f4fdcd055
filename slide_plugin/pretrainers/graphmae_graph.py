"""GraphMAE for graph classification (Hou et al., KDD 2022, ``main_graph.py``): masked feature
reconstruction over mini-batches of whole graphs with a GIN encoder and a one-layer GIN decoder.

Per step: mask ``mask_rate`` of the batch's nodes (a ``replace_rate`` share of them gets another node's
features, the rest a learnable [MASK] token), encode, project, re-mask, decode, and score the masked
nodes' reconstructions with the scaled cosine error. Self-loops are added to every graph (as GraphMAE's
loader does), so GIN's sum counts each node twice. The encoder carries the dataset's graph pooling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from registry import Count, NonNegativeFloat, OneOf, PositiveFloat, Probability, Range, RunContext
from registry.graphs import POOLINGS
from slide_plugin.layer_kinds import ACTIVATIONS, NORMS
from slide_plugin.pretrainers.base import StackPretrainer

if TYPE_CHECKING:
    from torch import nn

    from registry.graphs import GraphSet


@dataclass
class GraphMAEGraphOptions:
    """Defaults: ``main_graph.py``'s argument defaults; per-dataset values: ``configs.yml``."""

    num_hidden: Count = 256
    num_layers: Count = 2
    norm: Annotated[str | None, OneOf(None, *NORMS)] = "batchnorm"
    activation: Annotated[str, OneOf(*ACTIVATIONS)] = "prelu"
    in_drop: Probability = 0.2
    mask_rate: Annotated[float, Range(0, 1, low_open=True, high_open=True)] = 0.5
    replace_rate: Probability = 0.0
    alpha_l: PositiveFloat = 2.0
    lr: PositiveFloat = 0.005
    weight_decay: NonNegativeFloat = 5e-4
    epochs: Count = 200
    batch_size: Count = 32
    scheduler: bool = False
    pooling: Annotated[str, OneOf(*POOLINGS)] = "mean"


class GraphMAEGraph(StackPretrainer):
    name = "graphmae-graph"
    description = "GraphMAE for graph classification: masked feature reconstruction, GIN encoder/decoder, pooling"
    tasks = ("graph-classification",)
    Options = GraphMAEGraphOptions
    # THUDM/GraphMAE configs.yml (keys it omits keep main_graph.py's defaults). NCI1 and COLLAB spell the
    # pooling "pool", which main_graph.py never reads: they pool by the default mean, kept here as run.
    overrides = {
        "MUTAG": dict(num_hidden=32, num_layers=5, lr=5e-4, weight_decay=0.0, mask_rate=0.75, epochs=20,
                      pooling="sum", batch_size=64, alpha_l=2.0, replace_rate=0.1),
        "PROTEINS": dict(num_hidden=512, num_layers=3, lr=1.5e-4, weight_decay=0.0, epochs=100, mask_rate=0.5,
                         alpha_l=1.0, pooling="max", batch_size=32),
        "NCI1": dict(num_hidden=512, num_layers=2, lr=1e-3, epochs=300, mask_rate=0.25, scheduler=True,
                     batch_size=16, alpha_l=2.0, replace_rate=0.1),
        "IMDB-BINARY": dict(num_hidden=512, num_layers=2, lr=1.5e-4, weight_decay=0.0, epochs=60, mask_rate=0.5,
                            alpha_l=1.0, pooling="mean", batch_size=32),
        "IMDB-MULTI": dict(num_hidden=512, num_layers=3, lr=1.5e-4, weight_decay=0.0, epochs=50, mask_rate=0.5,
                           alpha_l=1.0, pooling="mean", batch_size=32),
    }
    quick = dict(epochs=2, num_hidden=32)

    def prepare(self, data: GraphSet, options: GraphMAEGraphOptions) -> GraphSet:
        from slide_plugin.pretrainers.graphmae_graph_model import with_self_loops

        return with_self_loops(data)

    def init_encoder(self, data: GraphSet, options: GraphMAEGraphOptions) -> nn.Module:
        from slide_plugin.pretrainers.graphmae_graph_model import GraphMAEGraphModel

        return GraphMAEGraphModel(data.num_features, options).encoder

    def pretrain(self, data: GraphSet, options: GraphMAEGraphOptions, ctx: RunContext) -> nn.Module:
        from slide_plugin.pretrainers.graphmae_graph_model import pretrain

        return pretrain(data, options, ctx)
