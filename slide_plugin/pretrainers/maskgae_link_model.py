"""MaskGAE's link-prediction model and pretraining (the component: :mod:`slide_plugin.pretrainers.maskgae_link`)."""

from __future__ import annotations

from torch import nn
from torch_geometric.data import Data

from registry import RunContext
from slide_plugin.nn import StackEncoder
from slide_plugin.nn.link import LinkPredictor, MLPDecoder
from slide_plugin.pretrainers.maskgae_link import MaskGAELinkOptions
from slide_plugin.pretrainers.maskgae_model import MaskGAEModel, gcn_blocks, train_loop


def build_predictor(in_dim: int, o: MaskGAELinkOptions) -> LinkPredictor:
    """MaskGAE's GCN layers (:func:`~slide_plugin.pretrainers.maskgae_model.gcn_blocks`), read out at the
    last layer, and the edge decoder."""
    decoder = MLPDecoder(o.hidden_channels, o.decoder_channels, o.decoder_layers, o.decoder_dropout, False)
    return LinkPredictor(StackEncoder(gcn_blocks(in_dim, o), readout="last"), decoder)


def pretrain(data: Data, options: MaskGAELinkOptions, ctx: RunContext) -> nn.Module:
    """A new model pretrained on ``data.edge_index`` (the training edges), selected on the validation edges."""
    predictor = build_predictor(data.num_features, options)
    model = MaskGAEModel(predictor.encoder, options, options.start, predictor.decoder).to(ctx.device)
    train_loop(model, predictor, data.x, data.edge_index, data.edge_index, data.val_pos_edge_index,
               data.val_neg_edge_index, ctx)
    return predictor.eval()
