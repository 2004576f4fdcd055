"""MaskGAE (Li et al., KDD 2023): masked graph auto-encoding with edge and degree decoders.

Per epoch: mask edges along uniform random walks (``mask="path"``) or independently
(``mask="edge"``); encode the remaining graph with a GCN(+BatchNorm) encoder; an MLP edge decoder
scores the Hadamard product of the end points of the masked edges against as many sampled
non-edges (binary cross-entropy), and a degree decoder regresses every node's masked degree (MSE,
weight ``alpha``); gradients are clipped to norm ``grad_norm``. The masked edges are processed in
batches of ``batch_size``, each with a full-graph forward. Every ``eval_period`` epochs the
checkpoint with the best validation link-prediction AUC (``RandomLinkSplit`` 10% val / 5% test) is
kept; with ``full_data`` the pretext task trains on all edges (the val edges included, as the
official code). The embedding for downstream use is the concatenation of every layer's output,
optionally L2-normalised.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from registry import Count, NonNegativeFloat, OneOf, PositiveFloat, Probability, Ratio, RunContext
from slide_plugin.layer_kinds import ACTIVATIONS
from slide_plugin.pretrainers.base import StackPretrainer

if TYPE_CHECKING:
    from torch import nn
    from torch_geometric.data import Data

MASKS = ("path", "edge")


@dataclass
class MaskGAEOptions:
    encoder_channels: Count = 128
    hidden_channels: Count = 64
    encoder_layers: Count = 2
    encoder_dropout: Probability = 0.8
    encoder_activation: Annotated[str, OneOf(*ACTIVATIONS)] = "elu"
    bn: bool = False
    l2_normalize: bool = False
    decoder_channels: Count = 32
    decoder_layers: Count = 2
    decoder_dropout: Probability = 0.2
    alpha: NonNegativeFloat = 0.0  # weight of the degree loss; 0: none
    mask: Annotated[str, OneOf(*MASKS)] = "path"
    p: Ratio = 0.7
    lr: PositiveFloat = 0.01
    weight_decay: NonNegativeFloat = 5e-5
    grad_norm: NonNegativeFloat = 1.0  # 0: no clipping
    batch_size: Count = 2**16
    epochs: Count = 500
    eval_period: Count = 30
    full_data: bool = False


class MaskGAE(StackPretrainer):
    name = "maskgae"
    version = "2"  # 2: bag-of-words features read as CSR (input dropout draws for the stored entries only)
    description = "MaskGAE: path-masked graph auto-encoder, GCN+BN encoder, edge and degree decoders"
    Options = MaskGAEOptions
    # EdisonLeeeee/MaskGAE README commands (SLIDE uses the same), paper.md §4.3.
    overrides = {
        "Cora": dict(bn=True, l2_normalize=True, alpha=0.004, full_data=True),
        "CiteSeer": dict(bn=True, l2_normalize=True, alpha=0.001, lr=0.02, full_data=True),
        "PubMed": dict(bn=True, l2_normalize=True, alpha=0.001, encoder_dropout=0.5, decoder_dropout=0.5,
                       full_data=True),
        "Photo": dict(bn=True, decoder_channels=128, lr=0.005),
        "Computers": dict(bn=True, encoder_dropout=0.5, alpha=0.002, encoder_channels=128, hidden_channels=256,
                          eval_period=20),
        "ogbn-arxiv": dict(bn=True, decoder_channels=128, decoder_dropout=0.0, decoder_layers=4, encoder_channels=256,
                           encoder_dropout=0.2, encoder_layers=4, hidden_channels=512, lr=0.0005, weight_decay=1e-4,
                           epochs=100, eval_period=10),
    }
    quick = dict(epochs=6, eval_period=2, encoder_channels=32, hidden_channels=16)

    def prepare(self, data: Data, options: MaskGAEOptions) -> Data:
        from torch_geometric.utils import to_undirected

        data = copy.copy(data)  # T.ToUndirected; no feature scaling
        data.edge_index = to_undirected(data.edge_index, num_nodes=data.num_nodes)
        return data

    def init_encoder(self, data: Data, options: MaskGAEOptions) -> nn.Module:
        """An untrained encoder with the architecture ``pretrain`` returns (for checks and parameter counts)."""
        from slide_plugin.pretrainers.maskgae_model import build_encoder

        return build_encoder(data.num_features, options)

    def pretrain(self, data: Data, options: MaskGAEOptions, ctx: RunContext) -> nn.Module:
        from slide_plugin.pretrainers.maskgae_model import pretrain  # torch loads when a run starts

        return pretrain(data, options, ctx)
