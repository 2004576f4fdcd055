"""GRACE (Zhu et al., 2020): contrastive learning between two corrupted views of the graph.

Per step: two views by dropping edges (``drop_edge_1/2``) and masking feature columns
(``drop_feature_1/2``); a shared GCN encoder (in → 2d → d) embeds both; a projection head
(d → d_proj → d, ELU) maps them; the loss is the symmetric InfoNCE where node i's positive is its
own embedding in the other view and its negatives are every other node in both views, at
temperature ``tau``. The pairwise similarity is N×N: ``loss_batch_size`` computes it in row blocks
with activation checkpointing, so memory is O(batch × N); the run raises ``MemoryError`` (recorded
as out-of-memory by the runner) when the estimate still exceeds ``similarity_memory_gb``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from registry import Count, NonNegativeFloat, NonNegativeInt, OneOf, PositiveFloat, Probability, RunContext
from slide_plugin.features import SCALINGS, scale_features
from slide_plugin.layer_kinds import ACTIVATIONS
from slide_plugin.pretrainers.base import StackPretrainer

if TYPE_CHECKING:
    from torch import nn
    from torch_geometric.data import Data


@dataclass
class GRACEOptions:
    num_hidden: Count = 128
    num_proj_hidden: Count = 128
    activation: Annotated[str, OneOf(*ACTIVATIONS)] = "relu"
    drop_edge_1: Probability = 0.2
    drop_edge_2: Probability = 0.4
    drop_feature_1: Probability = 0.3
    drop_feature_2: Probability = 0.4
    tau: PositiveFloat = 0.4
    lr: PositiveFloat = 5e-4
    weight_decay: NonNegativeFloat = 1e-5
    epochs: Count = 200
    loss_batch_size: NonNegativeInt = 0  # 0: the full N×N similarity at once (official)
    similarity_memory_gb: PositiveFloat = 32.0
    feature_scaling: Annotated[str, OneOf(*SCALINGS)] = "row"


class GRACE(StackPretrainer):
    name = "grace"
    version = "2"  # 2: bag-of-words features as CSR, inter-view similarities computed once (same draws; rounding)
    description = "GRACE: two-view node contrast (edge dropping + feature masking), GCN encoder, InfoNCE"
    Options = GRACEOptions
    # CRIPAC-DIG/GRACE config.yaml; Photo/Computers/arXiv from the SLIDE fork (paper.md §4.2).
    overrides = {
        "Cora": dict(num_hidden=128, num_proj_hidden=128, activation="relu", drop_edge_1=0.2, drop_edge_2=0.4,
                     drop_feature_1=0.3, drop_feature_2=0.4, tau=0.4, lr=5e-4, weight_decay=1e-5, epochs=200),
        "CiteSeer": dict(num_hidden=256, num_proj_hidden=256, activation="prelu", drop_edge_1=0.2, drop_edge_2=0.0,
                         drop_feature_1=0.3, drop_feature_2=0.2, tau=0.9, lr=1e-3, weight_decay=1e-5, epochs=200),
        "PubMed": dict(num_hidden=256, num_proj_hidden=256, activation="relu", drop_edge_1=0.4, drop_edge_2=0.1,
                       drop_feature_1=0.0, drop_feature_2=0.2, tau=0.7, lr=1e-3, weight_decay=1e-5, epochs=1500),
        "Photo": dict(num_hidden=512, num_proj_hidden=512, activation="prelu", drop_edge_1=0.9, drop_edge_2=0.9,
                      drop_feature_1=0.1, drop_feature_2=0.0, tau=0.7, lr=1e-3, weight_decay=1e-6, epochs=200),
        "Computers": dict(num_hidden=256, num_proj_hidden=256, activation="relu", drop_edge_1=0.5, drop_edge_2=0.9,
                          drop_feature_1=0.0, drop_feature_2=0.0, tau=0.1, lr=1e-3, weight_decay=1e-5, epochs=200),
        "ogbn-arxiv": dict(num_hidden=128, num_proj_hidden=128, activation="relu", drop_edge_1=0.1, drop_edge_2=0.4,
                           drop_feature_1=0.1, drop_feature_2=0.0, tau=0.7, lr=1e-3, weight_decay=1e-5, epochs=200,
                           loss_batch_size=1024),
    }
    quick = dict(epochs=5, num_hidden=32, num_proj_hidden=32)

    def prepare(self, data: Data, options: GRACEOptions) -> Data:
        return scale_features(data, options.feature_scaling)  # PyG NormalizeFeatures

    def init_encoder(self, data: Data, options: GRACEOptions) -> nn.Module:
        """An untrained encoder with the architecture ``pretrain`` returns (for checks and parameter counts)."""
        from slide_plugin.pretrainers.grace_model import GRACEModel

        return GRACEModel(data.num_features, options).encoder

    def pretrain(self, data: Data, options: GRACEOptions, ctx: RunContext) -> nn.Module:
        from slide_plugin.pretrainers.grace_model import pretrain  # torch loads when a run starts

        return pretrain(data, options, ctx)
