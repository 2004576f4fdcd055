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

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint
from torch_geometric.data import Data
from torch_geometric.utils import dropout_edge

from registry import RunContext
from slide_plugin.pretrainers.base import StackPretrainer
from slide_plugin.features import scale_features
from slide_plugin.nn import GCNBlock, StackEncoder

BYTES_PER_PAIR = 12 * 4  # float32 [b, N] tensors alive per row block (sims, exps, grads, both directions)


def drop_feature(x: Tensor, p: float) -> Tensor:
    """Zero a random ``p`` share of the feature columns (the same columns for every node)."""
    mask = torch.rand(x.size(1), device=x.device) < p
    x = x.clone()
    x[:, mask] = 0.0
    return x


def _rows_loss(h1_rows: Tensor, h1: Tensor, h2: Tensor, rows: Tensor, tau: float) -> Tensor:
    """InfoNCE of the anchors ``h1[rows]`` (L2-normalised) against all of ``h1`` and ``h2``: ``[b]``."""
    refl = torch.exp(h1_rows @ h1.t() / tau)  # intra-view [b, N]
    between = torch.exp(h1_rows @ h2.t() / tau)  # inter-view [b, N]
    arange = torch.arange(rows.numel(), device=rows.device)
    positive = between[arange, rows]
    return -torch.log(positive / (refl.sum(1) + between.sum(1) - refl[arange, rows]))


def semi_loss(h1: Tensor, h2: Tensor, tau: float, batch_size: int = 0) -> Tensor:
    """Per-node InfoNCE with view 1 as anchors, ``[N]``; ``batch_size > 0`` computes it in row blocks,
    recomputing each block in the backward pass so only one ``[batch, N]`` block is alive at a time."""
    h1, h2 = F.normalize(h1, dim=-1), F.normalize(h2, dim=-1)
    n = h1.size(0)
    if batch_size <= 0 or batch_size >= n:
        return _rows_loss(h1, h1, h2, torch.arange(n, device=h1.device), tau)
    parts = []
    for rows in torch.arange(n, device=h1.device).split(batch_size):
        parts.append(checkpoint(_rows_loss, h1[rows], h1, h2, rows, tau, use_reentrant=False))
    return torch.cat(parts)


@dataclass
class GRACEOptions:
    num_hidden: int = 128
    num_proj_hidden: int = 128
    activation: str = "relu"
    drop_edge_1: float = 0.2
    drop_edge_2: float = 0.4
    drop_feature_1: float = 0.3
    drop_feature_2: float = 0.4
    tau: float = 0.4
    lr: float = 5e-4
    weight_decay: float = 1e-5
    epochs: int = 200
    loss_batch_size: int = 0  # 0: the full N×N similarity at once (official)
    similarity_memory_gb: float = 32.0
    feature_scaling: str = "row"

    def __post_init__(self) -> None:
        for name in ("drop_edge_1", "drop_edge_2", "drop_feature_1", "drop_feature_2"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.tau <= 0:
            raise ValueError(f"tau must be positive, got {self.tau}")
        if self.loss_batch_size < 0 or self.similarity_memory_gb <= 0:
            raise ValueError("loss_batch_size must be >= 0 and similarity_memory_gb > 0")


class GRACEModel(nn.Module):
    """GCN encoder (in → 2d → d, one activation module after every layer) and the projection head."""

    def __init__(self, in_dim: int, o: GRACEOptions):
        super().__init__()
        self.options = o
        blocks = [GCNBlock(in_dim, 2 * o.num_hidden, activation=o.activation),
                  GCNBlock(2 * o.num_hidden, o.num_hidden, activation=o.activation)]
        self.encoder = StackEncoder(blocks, share_activation=True)
        self.fc1 = nn.Linear(o.num_hidden, o.num_proj_hidden)
        self.fc2 = nn.Linear(o.num_proj_hidden, o.num_hidden)

    def project(self, z: Tensor) -> Tensor:
        return self.fc2(F.elu(self.fc1(z)))

    def contrastive_loss(self, z1: Tensor, z2: Tensor) -> Tensor:
        o = self.options
        batch = z1.size(0) if o.loss_batch_size <= 0 else min(o.loss_batch_size, z1.size(0))
        need_gb = BYTES_PER_PAIR * batch * z1.size(0) / 2**30
        if need_gb > o.similarity_memory_gb:
            raise MemoryError(f"GRACE out of memory: the similarity blocks need about {need_gb:.1f} GB (batch {batch} "
                              f"of {z1.size(0)} nodes) > similarity_memory_gb={o.similarity_memory_gb}; "
                              "lower loss_batch_size")
        h1, h2 = self.project(z1), self.project(z2)
        l1 = semi_loss(h1, h2, o.tau, o.loss_batch_size)
        l2 = semi_loss(h2, h1, o.tau, o.loss_batch_size)
        return 0.5 * (l1 + l2).mean()

    def loss(self, x: Tensor, edge_index: Tensor) -> Tensor:
        o = self.options
        e1, _ = dropout_edge(edge_index, p=o.drop_edge_1)
        e2, _ = dropout_edge(edge_index, p=o.drop_edge_2)
        z1 = self.encoder(drop_feature(x, o.drop_feature_1), e1)
        z2 = self.encoder(drop_feature(x, o.drop_feature_2), e2)
        return self.contrastive_loss(z1, z2)


class GRACE(StackPretrainer):
    name = "grace"
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
        return GRACEModel(data.num_features, options).encoder

    def pretrain(self, data: Data, options: GRACEOptions, ctx: RunContext) -> nn.Module:
        model = GRACEModel(data.num_features, options).to(ctx.device)
        x, edge_index = data.x.to(ctx.device), data.edge_index.to(ctx.device)
        optimizer = torch.optim.Adam(model.parameters(), lr=options.lr, weight_decay=options.weight_decay)
        model.train()
        bar = ctx.progress(range(options.epochs), desc="pretrain grace", unit="epoch")
        for epoch in bar:
            optimizer.zero_grad()
            loss = model.loss(x, edge_index)
            loss.backward()
            optimizer.step()
            ctx.log(stage="pretrain", epoch=epoch, loss=loss.item())
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
        return model.encoder.eval()
