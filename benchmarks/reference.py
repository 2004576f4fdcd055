"""Plain PyG references of the pretrainers' training steps, written from the papers' equations.

They are the yardstick of the pretraining benchmarks: the same model sizes and options as our
pretrainer's resolved configuration (read field by field from its ``Options``), in the most direct
PyG code, so that ``ours / plain`` per epoch measures the cost of our abstractions (blocks,
``StackEncoder``, the registry) and nothing else. They are deliberately minimal: no slicing, no
caching, no diagnostics.

- GraphMAE (Hou et al., KDD 2022): GAT encoder (feature dropout → ``GATConv`` → norm → activation
  per layer), [MASK] token on ``mask_rate`` of the nodes (``replace_rate`` of them get another
  node's features instead), encoder-to-decoder linear map, re-mask, one-layer GAT decoder, scaled
  cosine error ``mean((1 - cos(x_i, x̂_i))^alpha)`` over the masked nodes; Adam + cosine schedule.
- GRACE (Zhu et al., 2020): two views (edge dropping, feature-column masking), shared two-layer GCN
  (in → 2d → d), projection d → d_proj → d with ELU, symmetric InfoNCE at temperature ``tau`` with
  the full N × N similarities; Adam.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GATConv, GCNConv
from torch_geometric.utils import dropout_edge

from registry import RunContext

ACTIVATIONS = {"prelu": nn.PReLU, "relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU}


def activation(name: str | None) -> nn.Module:
    return ACTIVATIONS[name]() if name in ACTIVATIONS else nn.Identity()


class PlainGraphMAE(nn.Module):
    def __init__(self, in_dim: int, o: Any):
        super().__init__()
        self.o = o
        self.convs, self.norms, self.acts = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        dim = in_dim
        for _ in range(o.num_layers):
            self.convs.append(GATConv(dim, o.num_hidden // o.num_heads, heads=o.num_heads, dropout=o.attn_drop,
                                      negative_slope=o.negative_slope))
            self.norms.append(nn.LayerNorm(o.num_hidden) if o.norm == "layernorm" else
                              nn.BatchNorm1d(o.num_hidden) if o.norm == "batchnorm" else nn.Identity())
            self.acts.append(activation(o.activation))
            dim = o.num_hidden
        self.enc2dec = nn.Linear(o.num_hidden, o.num_hidden, bias=False)
        self.decoder = GATConv(o.num_hidden, in_dim, heads=1, dropout=o.attn_drop, negative_slope=o.negative_slope)
        self.mask_token = nn.Parameter(torch.zeros(1, in_dim))

    def loss(self, x: Tensor, edge_index: Tensor) -> Tensor:
        o, n = self.o, x.size(0)
        perm = torch.randperm(n, device=x.device)
        masked = perm[: int(o.mask_rate * n)]
        num_noise = int(o.replace_rate * masked.numel())
        token, noise = masked[: masked.numel() - num_noise], masked[masked.numel() - num_noise:]
        h = x.clone()
        h[token] = 0.0
        h[noise] = x[torch.randperm(n, device=x.device)[:num_noise]]
        h[token] += self.mask_token
        enc_edges = dropout_edge(edge_index, p=o.drop_edge_rate)[0] if o.drop_edge_rate > 0 else edge_index
        for conv, norm, act in zip(self.convs, self.norms, self.acts):
            h = act(norm(conv(F.dropout(h, o.in_drop, self.training), enc_edges)))
        h = self.enc2dec(h)
        h[masked] = 0.0
        recon = self.decoder(F.dropout(h, o.in_drop, self.training), edge_index)
        return (1 - F.cosine_similarity(recon[masked], x[masked], dim=-1)).pow(o.alpha_l).mean()


class PlainGRACE(nn.Module):
    def __init__(self, in_dim: int, o: Any):
        super().__init__()
        self.o = o
        self.conv1 = GCNConv(in_dim, 2 * o.num_hidden)
        self.conv2 = GCNConv(2 * o.num_hidden, o.num_hidden)
        self.act = activation(o.activation)
        self.fc1 = nn.Linear(o.num_hidden, o.num_proj_hidden)
        self.fc2 = nn.Linear(o.num_proj_hidden, o.num_hidden)

    def embed(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.act(self.conv2(self.act(self.conv1(x, edge_index)), edge_index))

    def semi_loss(self, a: Tensor, b: Tensor) -> Tensor:
        a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
        refl, between = torch.exp(a @ a.t() / self.o.tau), torch.exp(a @ b.t() / self.o.tau)
        return -torch.log(between.diag() / (refl.sum(1) + between.sum(1) - refl.diag()))

    def loss(self, x: Tensor, edge_index: Tensor) -> Tensor:
        o, views = self.o, []
        for p_edge, p_feat in ((o.drop_edge_1, o.drop_feature_1), (o.drop_edge_2, o.drop_feature_2)):
            keep = (torch.rand(x.size(1), device=x.device) >= p_feat).to(x.dtype)
            z = self.embed(x * keep, dropout_edge(edge_index, p=p_edge)[0])
            views.append(self.fc2(F.elu(self.fc1(z))))
        h1, h2 = views
        return 0.5 * (self.semi_loss(h1, h2) + self.semi_loss(h2, h1)).mean()


REFERENCES = {"graphmae": PlainGraphMAE, "grace": PlainGRACE}


def plain_pretrain(name: str, data: Any, options: Any, ctx: RunContext) -> nn.Module:
    """The reference training loop (full batch, one Adam step per epoch), epochs through ``ctx.progress``."""
    model = REFERENCES[name](data.num_features, options).to(ctx.device)
    x, edge_index = data.x.to(ctx.device), data.edge_index.to(ctx.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    epochs = options.epochs
    scheduler = None
    if getattr(options, "scheduler", False):
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: (1 + math.cos(e * math.pi / epochs)) * 0.5)
    model.train()
    for _ in ctx.progress(range(epochs)):
        optimizer.zero_grad()
        model.loss(x, edge_index).backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return model
