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
from typing import TYPE_CHECKING

from registry import RunContext
from slide_plugin.pretrainers.base import StackPretrainer

if TYPE_CHECKING:
    from torch import nn
    from torch_geometric.data import Data

MASKS = ("path", "edge")


@dataclass
class MaskGAEOptions:
    encoder_channels: int = 128
    hidden_channels: int = 64
    encoder_layers: int = 2
    encoder_dropout: float = 0.8
    encoder_activation: str = "elu"
    bn: bool = False
    l2_normalize: bool = False
    decoder_channels: int = 32
    decoder_layers: int = 2
    decoder_dropout: float = 0.2
    alpha: float = 0.0
    mask: str = "path"
    p: float = 0.7
    lr: float = 0.01
    weight_decay: float = 5e-5
    grad_norm: float = 1.0
    batch_size: int = 2**16
    epochs: int = 500
    eval_period: int = 30
    full_data: bool = False

    def __post_init__(self) -> None:
        if self.mask not in MASKS:
            raise ValueError(f"mask must be one of {', '.join(MASKS)}, got '{self.mask}'")
        if not 0 < self.p <= 1:
            raise ValueError(f"p must be in (0, 1], got {self.p}")
        if self.encoder_layers < 1 or self.decoder_layers < 1:
            raise ValueError("encoder_layers and decoder_layers must be at least 1")
        if self.epochs < 1 or self.eval_period < 1 or self.batch_size < 1:
            raise ValueError("epochs, eval_period and batch_size must be at least 1")


class MaskGAE(StackPretrainer):
    name = "maskgae"
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
