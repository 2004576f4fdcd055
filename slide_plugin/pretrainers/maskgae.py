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
from typing import Any

import torch
import torch.nn.functional as F
import torch_geometric.transforms as T
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.utils import add_self_loops, degree, negative_sampling, to_undirected
from torchmetrics.functional.classification import binary_auroc

from registry import RunContext
from slide_plugin.pretrainers.base import StackPretrainer
from slide_plugin.nn import GCNBlock, StackEncoder
from slide_plugin.pretrainers.edge_masking import mask_edge, mask_path

MASKS = ("path", "edge")


class MLPDecoder(nn.Module):
    """``layers`` linear layers ``in → hidden → … → 1`` with ReLU between them; the edge decoder
    applies dropout before each hidden layer, the degree decoder after it and a final ReLU."""

    def __init__(self, in_dim: int, hidden: int, layers: int, dropout: float, degree_head: bool):
        super().__init__()
        dims = [in_dim] + [hidden] * (layers - 1) + [1]
        self.mlps = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.dropout = nn.Dropout(dropout)
        self.degree_head = degree_head

    def forward(self, x: Tensor) -> Tensor:
        for mlp in self.mlps[:-1]:
            x = F.relu(self.dropout(mlp(x))) if self.degree_head else F.relu(mlp(self.dropout(x)))
        x = self.mlps[-1](x)
        return F.relu(x) if self.degree_head else x


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


def build_encoder(in_dim: int, o: MaskGAEOptions) -> StackEncoder:
    """GCN layers in → e → … → e → hd, each dropout → conv → BatchNorm (``bn``) → activation."""
    dims = [in_dim] + [o.encoder_channels] * (o.encoder_layers - 1) + [o.hidden_channels]
    norm = "batchnorm" if o.bn else None
    blocks = [GCNBlock(a, b, o.encoder_dropout, norm, o.encoder_activation) for a, b in zip(dims[:-1], dims[1:])]
    return StackEncoder(blocks, readout="cat", l2_normalize=o.l2_normalize, cap_truncated_output=True)


class MaskGAEModel(nn.Module):
    def __init__(self, in_dim: int, o: MaskGAEOptions):
        super().__init__()
        self.options = o
        self.encoder = build_encoder(in_dim, o)
        self.edge_decoder = MLPDecoder(o.hidden_channels, o.decoder_channels, o.decoder_layers, o.decoder_dropout, False)
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
            remaining, masked = mask_path(edge_index, n, o.p, walk_length=o.encoder_layers + 1)
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
        data = copy.copy(data)  # T.ToUndirected; no feature scaling
        data.edge_index = to_undirected(data.edge_index, num_nodes=data.num_nodes)
        return data

    def init_encoder(self, data: Data, options: MaskGAEOptions) -> nn.Module:
        """An untrained encoder with the architecture ``pretrain`` returns (for checks and parameter counts)."""
        return build_encoder(data.num_features, options)

    def pretrain(self, data: Data, options: MaskGAEOptions, ctx: RunContext) -> nn.Module:
        o = options
        graph = Data(x=data.x, edge_index=data.edge_index, num_nodes=data.num_nodes)
        split = T.RandomLinkSplit(num_val=0.1, num_test=0.05, is_undirected=True, split_labels=True,
                                  add_negative_train_samples=False)
        train, val, _ = split(graph)
        x = data.x.to(ctx.device)
        train_edges = (graph if o.full_data else train).edge_index.to(ctx.device)
        val_graph = val.edge_index.to(ctx.device)
        val_pos, val_neg = val.pos_edge_label_index.to(ctx.device), val.neg_edge_label_index.to(ctx.device)
        model = MaskGAEModel(data.num_features, o).to(ctx.device)
        optimizer = torch.optim.Adam(model.parameters(), lr=o.lr, weight_decay=o.weight_decay)
        best_auc, best_state = 0.0, None
        bar = ctx.progress(range(1, o.epochs + 1), desc="pretrain maskgae", unit="epoch")
        for epoch in bar:
            loss = model.train_epoch(x, train_edges, optimizer)
            entry: dict[str, Any] = dict(stage="pretrain", epoch=epoch, loss=loss)
            if epoch % o.eval_period == 0:
                entry["val_auc"] = model.auc(x, val_graph, val_pos, val_neg)
                if entry["val_auc"] > best_auc:
                    best_auc, best_state = entry["val_auc"], copy.deepcopy(model.encoder.state_dict())
            ctx.log(**entry)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        if best_state is not None:
            model.encoder.load_state_dict(best_state)
        return model.encoder.eval()
