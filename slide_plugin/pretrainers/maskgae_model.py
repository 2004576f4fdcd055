"""MaskGAE's model and pretraining loop (the component and its options: :mod:`slide_plugin.pretrainers.maskgae`)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
import torch_geometric.transforms as T
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.utils import add_self_loops, degree, negative_sampling
from torchmetrics.functional.classification import binary_auroc

from registry import RunContext
from registry.heads import model_features
from registry.numerics import FiniteWatch
from slide_plugin.nn import GCNBlock, StackEncoder
from slide_plugin.nn.link import MLPDecoder
from slide_plugin.pretrainers.edge_masking import mask_edge, mask_path
from slide_plugin.pretrainers.maskgae import MaskGAEOptions

if TYPE_CHECKING:
    from slide_plugin.pretrainers.maskgae_link import MaskGAELinkOptions


def gcn_blocks(in_dim: int, o: MaskGAEOptions | MaskGAELinkOptions) -> list[GCNBlock]:
    """GCN layers in → e → … → e → hd, each dropout → conv → BatchNorm (``bn``) → activation."""
    dims = [in_dim] + [o.encoder_channels] * (o.encoder_layers - 1) + [o.hidden_channels]
    norm = "batchnorm" if o.bn else None
    return [GCNBlock(a, b, o.encoder_dropout, norm, o.encoder_activation) for a, b in zip(dims[:-1], dims[1:])]


def build_encoder(in_dim: int, o: MaskGAEOptions) -> StackEncoder:
    """:func:`gcn_blocks` read out as the concatenation of every layer's output."""
    return StackEncoder(gcn_blocks(in_dim, o), readout="cat", l2_normalize=o.l2_normalize, cap_truncated_output=True)


class MaskGAEModel(nn.Module):
    """An encoder with MaskGAE's edge and degree decoders; ``start`` chooses the walks' start nodes of
    ``mask="path"``: ``round(p · N)`` random nodes (``"node"``) or the sources of edges kept with
    probability ``p`` (``"edge"``, the official link-prediction setting). An ``edge_decoder`` given is
    trained in place (a :class:`~slide_plugin.nn.link.LinkPredictor`'s)."""

    def __init__(self, encoder: StackEncoder, o: Any, start: str = "node", edge_decoder: MLPDecoder | None = None):
        super().__init__()
        self.options, self.start = o, start
        self.encoder = encoder
        self.edge_decoder = edge_decoder or MLPDecoder(o.hidden_channels, o.decoder_channels, o.decoder_layers,
                                                       o.decoder_dropout, False)
        self.degree_decoder = MLPDecoder(o.hidden_channels, o.decoder_channels, o.decoder_layers, o.decoder_dropout, True)

    def code(self, x: Tensor, edge_index: Tensor) -> Tensor:
        """The last layer's output: what the decoders read."""
        return self.encoder.layer_outputs(x, edge_index)[-1]

    def edge_logits(self, z: Tensor, edges: Tensor) -> Tensor:
        return self.edge_decoder(z[edges[0]] * z[edges[1]]).squeeze(-1)

    def train_epoch(self, x: Tensor, edge_index: Tensor, optimizer: torch.optim.Optimizer) -> float:
        o, n = self.options, x.size(0)
        self.train()
        if o.mask == "path":
            remaining, masked = mask_path(edge_index, n, o.p, walk_length=o.encoder_layers + 1, start=self.start)
        else:
            remaining, masked = mask_edge(edge_index, n, o.p)
        negatives = negative_sampling(add_self_loops(edge_index)[0], num_nodes=n, num_neg_samples=masked.size(1))
        masked_degree = degree(masked[1], n)
        total = 0.0
        for perm in torch.randperm(masked.size(1), device=x.device).split(o.batch_size):
            optimizer.zero_grad()
            z = self.code(x, remaining)
            pos = self.edge_logits(z, masked[:, perm])
            neg = self.edge_logits(z, negatives[:, perm[perm < negatives.size(1)]])  # sampler may return fewer
            loss = (F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos))
                    + F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg)))
            if o.alpha:
                loss = loss + o.alpha * F.mse_loss(self.degree_decoder(z).squeeze(-1), masked_degree)
            loss.backward()
            if o.grad_norm > 0:
                nn.utils.clip_grad_norm_(self.parameters(), o.grad_norm)
            optimizer.step()
            total += loss.item()
        return total

    @torch.no_grad()
    def auc(self, x: Tensor, edge_index: Tensor, pos: Tensor, neg: Tensor) -> float:
        """Link-prediction ROC-AUC of ``pos`` vs ``neg`` edges, encoding the graph ``edge_index``."""
        self.eval()
        z = self.code(x, edge_index)
        scores = torch.cat([self.edge_logits(z, pos), self.edge_logits(z, neg)]).sigmoid()
        labels = torch.cat([torch.ones(pos.size(1)), torch.zeros(neg.size(1))]).long().to(scores.device)
        return float(binary_auroc(scores, labels))


def pretrain(data: Data, options: MaskGAEOptions, ctx: RunContext) -> nn.Module:
    """Pretrain a MaskGAE model for node classification; returns its encoder (best validation AUC on its
    own link split, ``RandomLinkSplit`` 10% val / 5% test) in eval mode."""
    o = options
    graph = Data(x=data.x, edge_index=data.edge_index, num_nodes=data.num_nodes)
    split = T.RandomLinkSplit(num_val=0.1, num_test=0.05, is_undirected=True, split_labels=True,
                              add_negative_train_samples=False)
    train, val, _ = split(graph)
    model = MaskGAEModel(build_encoder(data.num_features, o), o).to(ctx.device)
    train_loop(model, model.encoder, data.x, (graph if o.full_data else train).edge_index, val.edge_index,
               val.pos_edge_label_index, val.neg_edge_label_index, ctx)
    return model.encoder.eval()


def train_loop(model: MaskGAEModel, kept: nn.Module, x: Tensor, train_edges: Tensor, val_graph: Tensor,
               val_pos: Tensor, val_neg: Tensor, ctx: RunContext) -> None:
    """MaskGAE's pretraining epochs on ``train_edges``; every ``eval_period`` epochs the validation AUC of
    ``val_pos`` against ``val_neg`` (encoding ``val_graph``) decides whether ``kept`` (a part of ``model``)
    is saved; the best saved state is loaded back at the end."""
    o, device = model.options, ctx.device
    train_edges, val_graph, val_pos, val_neg = (t.to(device) for t in (train_edges, val_graph, val_pos, val_neg))
    x = model_features(model.encoder, x.to(device))  # CSR for bag-of-words inputs
    optimizer = torch.optim.Adam(model.parameters(), lr=o.lr, weight_decay=o.weight_decay)
    best_auc, best_state = 0.0, None
    bar = ctx.progress(range(1, o.epochs + 1), desc="pretrain maskgae", unit="epoch")
    watch = FiniteWatch("MaskGAE pretraining loss", every=1)
    for epoch in bar:
        loss = model.train_epoch(x, train_edges, optimizer)
        watch(epoch, loss)
        entry: dict[str, Any] = dict(stage="pretrain", epoch=epoch, loss=loss)
        if epoch % o.eval_period == 0:
            entry["val_auc"] = model.auc(x, val_graph, val_pos, val_neg)
            if entry["val_auc"] > best_auc:
                best_auc, best_state = entry["val_auc"], copy.deepcopy(kept.state_dict())
        ctx.log(**entry)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
    if best_state is not None:
        kept.load_state_dict(best_state)
