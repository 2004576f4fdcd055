"""GRACE's model, loss and pretraining loop (the component and its options: :mod:`slide_plugin.pretrainers.grace`)."""

from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint
from torch_geometric.data import Data
from torch_geometric.utils import dropout_edge

from registry import RunContext
from registry.heads import model_features
from registry.numerics import FiniteWatch
from slide_plugin.nn import GCNBlock, StackEncoder
from slide_plugin.pretrainers.grace import GRACEOptions

BYTES_PER_PAIR = 12 * 4  # float32 [b, N] tensors alive per row block (sims, exps, grads, both directions)


def drop_feature(x: Tensor, p: float) -> Tensor:
    """Zero a random ``p`` share of the feature columns (the same columns for every node); ``x`` dense
    or CSR (the same draws and values either way)."""
    mask = torch.rand(x.size(1), device=x.device) < p
    if x.layout == torch.sparse_csr:
        values = x.values() * (~mask)[x.col_indices()]
        return torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(), values, x.shape, check_invariants=False)
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


def symmetric_loss(h1: Tensor, h2: Tensor, tau: float) -> Tensor:
    """``semi_loss(h1, h2) + semi_loss(h2, h1)`` (full, ``[N]``) with the inter-view similarities computed
    once: view 2's are the transpose of view 1's, so three ``[N, N]`` products instead of four."""
    h1, h2 = F.normalize(h1, dim=-1), F.normalize(h2, dim=-1)
    refl1, refl2 = torch.exp(h1 @ h1.t() / tau), torch.exp(h2 @ h2.t() / tau)
    between = torch.exp(h1 @ h2.t() / tau)
    positive = between.diagonal()
    l1 = -torch.log(positive / (refl1.sum(1) + between.sum(1) - refl1.diagonal()))
    l2 = -torch.log(positive / (refl2.sum(1) + between.sum(0) - refl2.diagonal()))
    return l1 + l2


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
        if o.loss_batch_size <= 0 or o.loss_batch_size >= h1.size(0):
            return 0.5 * symmetric_loss(h1, h2, o.tau).mean()
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


def pretrain(data: Data, options: GRACEOptions, ctx: RunContext) -> nn.Module:
    """Pretrain a GRACE model; returns its encoder in eval mode."""
    model = GRACEModel(data.num_features, options).to(ctx.device)
    x, edge_index = model_features(model.encoder, data.x.to(ctx.device)), data.edge_index.to(ctx.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    model.train()
    bar = ctx.progress(range(options.epochs), desc="pretrain grace", unit="epoch")
    watch = FiniteWatch("GRACE pretraining loss", every=1)
    for epoch in bar:
        optimizer.zero_grad()
        loss = model.loss(x, edge_index)
        loss.backward()
        optimizer.step()
        value = loss.item()
        ctx.log(stage="pretrain", epoch=epoch, loss=value)
        watch(epoch, value)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{value:.4f}", refresh=False)
    watch.check()
    return model.encoder.eval()
