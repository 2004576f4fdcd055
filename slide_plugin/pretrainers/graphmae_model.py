"""GraphMAE's model and pretraining loop (the component and its options: :mod:`slide_plugin.pretrainers.graphmae`)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.utils import dropout_edge

from registry import RunContext
from registry.heads import model_features
from registry.numerics import FiniteWatch
from registry.sparse import select_rows
from slide_plugin.nn import GATBlock, StackEncoder
from slide_plugin.nn.sparse import TokenRows
from slide_plugin.pretrainers.graphmae import GraphMAEOptions


def sce_loss(x: Tensor, y: Tensor, alpha: float) -> Tensor:
    """Scaled cosine error: mean over rows of ``(1 - cos(x_i, y_i))^alpha``."""
    cos = (F.normalize(x, dim=-1) * F.normalize(y, dim=-1)).sum(dim=-1)
    return (1 - cos).pow(alpha).mean()


class GraphMAEModel(nn.Module):
    """Encoder, encoder-to-decoder projection, one-layer GAT decoder and the [MASK] token."""

    def __init__(self, in_dim: int, o: GraphMAEOptions):
        super().__init__()
        self.options = o
        units = o.num_hidden // o.num_heads
        blocks, dim = [], in_dim
        for _ in range(o.num_layers):
            blocks.append(GATBlock(dim, units, o.num_heads, o.in_drop, o.attn_drop, o.norm, o.activation, o.negative_slope))
            dim = o.num_hidden
        self.encoder = StackEncoder(blocks)
        self.encoder_to_decoder = nn.Linear(o.num_hidden, o.num_hidden, bias=False)
        self.decoder = GATBlock(o.num_hidden, in_dim, 1, o.in_drop, o.attn_drop, None, None, o.negative_slope)
        self.mask_token = nn.Parameter(torch.zeros(1, in_dim))
        gain = nn.init.calculate_gain("relu")  # the official GAT layers' init (PyG's default differs)
        for block in [*self.encoder.blocks, self.decoder]:
            block.reset_xavier_normal(gain)

    def mask_features(self, x: Tensor) -> tuple[Tensor | TokenRows, Tensor]:
        """Masked input and the indices of the masked nodes: of these, a ``replace_rate`` share take
        another random node's features, the rest the [MASK] token. From CSR features the input is
        :class:`TokenRows` (the same draws; a sparse matrix plus the token's rows, never dense)."""
        n, o = x.size(0), self.options
        perm = torch.randperm(n, device=x.device)
        num_mask = int(o.mask_rate * n)
        mask_nodes = perm[:num_mask]
        token_nodes, noise_nodes, noise_source = mask_nodes, mask_nodes[:0], mask_nodes[:0]
        if o.replace_rate > 0:
            num_noise = int(o.replace_rate * num_mask)
            order = torch.randperm(num_mask, device=x.device)
            token_nodes = mask_nodes[order[: num_mask - num_noise]]
            noise_nodes = mask_nodes[order[num_mask - num_noise:]]
            noise_source = torch.randperm(n, device=x.device)[:num_noise]
        if x.layout == torch.sparse_csr:
            source = torch.arange(n, device=x.device)
            source[noise_nodes] = noise_source
            rows = select_rows(x, source)
            keep = torch.ones(n, dtype=x.dtype, device=x.device)
            keep[token_nodes] = 0.0
            values = rows.values() * keep.repeat_interleave(rows.crow_indices().diff(), output_size=rows.values().numel())
            sparse = torch.sparse_csr_tensor(rows.crow_indices(), rows.col_indices(), values, x.shape,
                                             check_invariants=False)
            return TokenRows(sparse, token_nodes, self.mask_token), mask_nodes
        out = x.clone()
        out[token_nodes] = 0.0
        out[noise_nodes] = x[noise_source]
        out[token_nodes] += self.mask_token
        return out, mask_nodes

    def loss(self, x: Tensor, edge_index: Tensor) -> Tensor:
        """Scaled cosine error of the masked nodes' reconstructions; ``x`` dense or CSR."""
        masked_x, mask_nodes = self.mask_features(x)
        enc_edges = edge_index
        if self.options.drop_edge_rate > 0:
            enc_edges, _ = dropout_edge(edge_index, p=self.options.drop_edge_rate)
        code = self.encoder_to_decoder(self.encoder(masked_x, enc_edges))
        code = code.clone()
        code[mask_nodes] = 0.0  # re-mask before decoding
        recon = self.decoder(code, edge_index)
        target = select_rows(x, mask_nodes)
        return sce_loss(recon[mask_nodes], target.to_dense() if target.layout == torch.sparse_csr else target,
                        self.options.alpha_l)


def pretrain(data: Data, options: GraphMAEOptions, ctx: RunContext) -> nn.Module:
    """Pretrain a GraphMAE model; returns its encoder in eval mode."""
    model = GraphMAEModel(data.num_features, options).to(ctx.device)
    x, edge_index = model_features(model.encoder, data.x.to(ctx.device)), data.edge_index.to(ctx.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    epochs = options.epochs
    schedule = (lambda e: (1 + math.cos(e * math.pi / epochs)) * 0.5) if options.scheduler else (lambda e: 1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    model.train()
    bar = ctx.progress(range(epochs), desc="pretrain graphmae", unit="epoch")
    watch = FiniteWatch("GraphMAE pretraining loss")  # read every 50 epochs: no wait for the device per epoch
    for epoch in bar:
        optimizer.zero_grad()
        loss = model.loss(x, edge_index)
        loss.backward()
        optimizer.step()
        scheduler.step()
        watch(epoch, loss)
        if not getattr(bar, "disable", True):  # reading the loss waits for the device: only for a visible bar
            bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
    watch.check()
    return model.encoder.eval()
