"""GraphMAE (Hou et al., KDD 2022): masked feature reconstruction with a GAT encoder and decoder.

Per step: mask ``mask_rate`` of the nodes (a ``replace_rate`` share of them gets another node's
features, the rest a learnable [MASK] token), optionally drop edges for the encoder, encode,
project, re-mask the masked nodes' codes, decode with a one-layer GAT, and score the masked
nodes' reconstructions with the scaled cosine error ``(1 - cos(x, x̂))^alpha``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from registry import Count, NonNegativeFloat, OneOf, PositiveFloat, Probability, Range, RunContext
from slide_plugin.features import SCALINGS, scale_features
from slide_plugin.layer_kinds import ACTIVATIONS, NORMS
from slide_plugin.pretrainers.base import StackPretrainer

if TYPE_CHECKING:
    from torch import nn
    from torch_geometric.data import Data


@dataclass
class GraphMAEOptions:
    num_hidden: Count = 512
    num_heads: Count = 4
    num_layers: Count = 2
    norm: Annotated[str | None, OneOf(None, *NORMS)] = None
    activation: Annotated[str, OneOf(*ACTIVATIONS)] = "prelu"
    in_drop: Probability = 0.2
    attn_drop: Probability = 0.1
    negative_slope: NonNegativeFloat = 0.2
    mask_rate: Annotated[float, Range(0, 1, low_open=True, high_open=True)] = 0.5  # 0 masks nothing: no loss
    replace_rate: Probability = 0.05
    drop_edge_rate: Probability = 0.0
    alpha_l: PositiveFloat = 3.0
    lr: PositiveFloat = 1e-3
    weight_decay: NonNegativeFloat = 2e-4
    epochs: Count = 1500
    scheduler: bool = True
    feature_scaling: Annotated[str, OneOf(*SCALINGS)] = "row"

    def __post_init__(self) -> None:
        if self.num_hidden % self.num_heads:
            raise ValueError(f"num_hidden ({self.num_hidden}) must be divisible by num_heads ({self.num_heads})")


class GraphMAE(StackPretrainer):
    name = "graphmae"
    version = "4"  # 2: the official GAT initialisation; 3: the fused GAT layer (same layer, other rounding);
    # 4: its scores and gradients in one buffer (other rounding), bag-of-words inputs read as CSR
    description = "GraphMAE: masked feature reconstruction, GAT encoder/decoder, scaled cosine error"
    Options = GraphMAEOptions
    # Official configs (THUDM/GraphMAE configs.yml; Photo/Computers from the SLIDE fork), paper.md §4.1.
    overrides = {
        "Cora": dict(num_hidden=512, num_heads=4, lr=1e-3, weight_decay=2e-4, epochs=1500, mask_rate=0.5,
                     replace_rate=0.05, alpha_l=3.0),
        "CiteSeer": dict(num_hidden=512, num_heads=2, lr=1e-3, weight_decay=2e-5, epochs=300, mask_rate=0.5,
                         replace_rate=0.1, alpha_l=1.0),
        "PubMed": dict(num_hidden=1024, num_heads=4, lr=1e-3, weight_decay=1e-5, epochs=1000, mask_rate=0.75,
                       replace_rate=0.0, alpha_l=3.0),
        "ogbn-arxiv": dict(num_hidden=1024, num_heads=4, num_layers=3, norm="layernorm", lr=1e-3, weight_decay=0.0,
                           epochs=1000, mask_rate=0.5, replace_rate=0.0, drop_edge_rate=0.5, alpha_l=3.0,
                           feature_scaling="standard"),
        "Photo": dict(num_hidden=1024, num_heads=4, norm="layernorm", lr=1e-3, weight_decay=0.0, epochs=1000,
                      mask_rate=0.5, replace_rate=0.0, drop_edge_rate=0.5, alpha_l=3.0, feature_scaling="none"),
        "Computers": dict(num_hidden=1024, num_heads=4, norm="layernorm", lr=1e-3, weight_decay=0.0, epochs=1000,
                          mask_rate=0.5, replace_rate=0.0, drop_edge_rate=0.5, alpha_l=3.0, feature_scaling="none"),
    }
    quick = dict(epochs=5, num_hidden=64)

    def prepare(self, data: Data, options: GraphMAEOptions) -> Data:
        return scale_features(data, options.feature_scaling)

    def init_encoder(self, data: Data, options: GraphMAEOptions) -> nn.Module:
        """An untrained encoder with the architecture ``pretrain`` returns (for parameter counts)."""
        from slide_plugin.pretrainers.graphmae_model import GraphMAEModel

        return GraphMAEModel(data.num_features, options).encoder

    def pretrain(self, data: Data, options: GraphMAEOptions, ctx: RunContext) -> nn.Module:
        from slide_plugin.pretrainers.graphmae_model import pretrain  # torch loads when a run starts

        return pretrain(data, options, ctx)
