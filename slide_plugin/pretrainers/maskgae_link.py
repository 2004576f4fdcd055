"""MaskGAE for link prediction (Li et al., KDD 2023; ``train_linkpred.py``): the same pretext task as
:mod:`slide_plugin.pretrainers.maskgae` on the training edges of a link-prediction dataset only.

The dataset's split (:mod:`registry.linksplit`: 5% validation / 10% test edges) is the one the model is
selected and scored on: pretraining masks and reconstructs ``data.edge_index`` (the training edges;
no validation or test edge is ever seen), and every ``eval_period`` epochs the encoder and edge decoder
with the best validation AUC are kept. Walks start from the sources of edges kept with probability
``p`` (``start="edge"``, the official default). The result is a
:class:`~slide_plugin.nn.link.LinkPredictor`: encoder and edge decoder, slimmed together. Unlike the
official script, which trains one model over its ``--runs``, every seed starts from a new model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from registry import Count, NonNegativeFloat, OneOf, PositiveFloat, Pretrainer, Probability, Ratio, RunContext
from registry.tasks import LINK
from slide_plugin.layer_kinds import ACTIVATIONS

if TYPE_CHECKING:
    from torch import nn
    from torch_geometric.data import Data


@dataclass
class MaskGAELinkOptions:  # train_linkpred.py defaults (EdisonLeeeee/MaskGAE, paper.md §4.3)
    encoder_channels: Count = 128  # hidden layers' width (with encoder_layers > 1)
    hidden_channels: Count = 128  # the last layer's width: what the decoders read
    encoder_layers: Count = 1
    encoder_dropout: Probability = 0.8
    encoder_activation: Annotated[str, OneOf(*ACTIVATIONS)] = "elu"
    bn: bool = False
    decoder_channels: Count = 64
    decoder_layers: Count = 2
    decoder_dropout: Probability = 0.2
    alpha: NonNegativeFloat = 0.003  # weight of the degree loss; 0: none
    mask: Annotated[str, OneOf("path", "edge")] = "path"
    start: Annotated[str, OneOf("edge", "node")] = "edge"  # where the masking walks start
    p: Ratio = 0.7
    lr: PositiveFloat = 0.01
    weight_decay: NonNegativeFloat = 5e-5
    grad_norm: NonNegativeFloat = 1.0  # 0: no clipping
    batch_size: Count = 2**16
    epochs: Count = 500
    eval_period: Count = 10


class MaskGAELink(Pretrainer):
    name = "maskgae-link"
    description = "MaskGAE for link prediction: path-masked auto-encoder on the training edges; encoder + edge decoder"
    tasks = (LINK,)
    Options = MaskGAELinkOptions
    # README commands of train_linkpred.py (paper.md §4.3)
    overrides = {"Cora-link": dict(bn=True), "CiteSeer-link": dict(bn=True),
                 "PubMed-link": dict(bn=True, encoder_dropout=0.2)}
    quick = dict(epochs=6, eval_period=2, hidden_channels=16, decoder_channels=8)

    def init_encoder(self, data: Data, options: MaskGAELinkOptions) -> nn.Module:
        """An untrained encoder and edge decoder of the architecture ``pretrain`` returns."""
        from slide_plugin.pretrainers.maskgae_link_model import build_predictor

        return build_predictor(data.num_features, options)

    def pretrain(self, data: Data, options: MaskGAELinkOptions, ctx: RunContext) -> nn.Module:
        from slide_plugin.pretrainers.maskgae_link_model import pretrain  # torch loads when a run starts

        return pretrain(data, options, ctx)

    def build_encoder(self, arch: dict[str, Any]) -> nn.Module:
        from slide_plugin.nn.link import LinkPredictor

        return LinkPredictor.from_arch(arch)
