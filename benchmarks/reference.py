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
- MaskGAE (Li et al., KDD 2023): mask edges (``mask = "path"``: random-walk paths, else each edge
  with probability ``p``; the masking itself is ours, :mod:`slide_plugin.pretrainers.edge_masking`,
  as PyG has no path masking without torch_cluster), encode the remaining graph with GCN layers
  (dropout → ``GCNConv`` → BatchNorm → activation), decode the masked edges against as many
  negative samples with an MLP on ``z_u * z_v`` (binary cross-entropy) and, weighted by ``alpha``,
  the masked degree with another MLP (MSE); one Adam step per ``batch_size`` masked edges with
  gradient clipping, on dense features. No validation AUC.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GATConv, GCNConv
from torch_geometric.utils import add_self_loops, degree, dropout_edge, negative_sampling

from registry import RunContext
from slide_plugin.pretrainers.edge_masking import mask_edge, mask_path

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


def mlp(dims: list[int]) -> nn.ModuleList:
    return nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))


class PlainMaskGAE(nn.Module):
    def __init__(self, in_dim: int, o: Any):
        super().__init__()
        self.o = o
        dims = [in_dim] + [o.encoder_channels] * (o.encoder_layers - 1) + [o.hidden_channels]
        self.convs = nn.ModuleList(GCNConv(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.bns = nn.ModuleList(nn.BatchNorm1d(b) if o.bn else nn.Identity() for b in dims[1:])
        self.act = activation(o.encoder_activation)
        decoder = [o.hidden_channels] + [o.decoder_channels] * (o.decoder_layers - 1) + [1]
        self.edge_mlp, self.degree_mlp = mlp(decoder), mlp(decoder)

    def encode(self, x: Tensor, edge_index: Tensor) -> Tensor:
        for conv, bn in zip(self.convs, self.bns):
            x = self.act(bn(conv(F.dropout(x, self.o.encoder_dropout, self.training), edge_index)))
        return F.normalize(x, dim=-1) if self.o.l2_normalize else x

    def edge_logits(self, z: Tensor, edges: Tensor) -> Tensor:
        h = z[edges[0]] * z[edges[1]]
        for layer in self.edge_mlp[:-1]:
            h = F.relu(layer(F.dropout(h, self.o.decoder_dropout, self.training)))
        return self.edge_mlp[-1](h).squeeze(-1)

    def degrees(self, z: Tensor) -> Tensor:
        for layer in self.degree_mlp[:-1]:
            z = F.relu(F.dropout(layer(z), self.o.decoder_dropout, self.training))
        return F.relu(self.degree_mlp[-1](z)).squeeze(-1)

    def train_epoch(self, x: Tensor, edge_index: Tensor, optimizer: torch.optim.Optimizer) -> None:
        o, n = self.o, x.size(0)
        if o.mask == "path":
            remaining, masked = mask_path(edge_index, n, o.p, walk_length=o.encoder_layers + 1)
        else:
            remaining, masked = mask_edge(edge_index, n, o.p)
        negatives = negative_sampling(add_self_loops(edge_index)[0], num_nodes=n, num_neg_samples=masked.size(1))
        masked_degree = degree(masked[1], n)
        for perm in torch.randperm(masked.size(1), device=x.device).split(o.batch_size):
            optimizer.zero_grad()
            z = self.encode(x, remaining)
            pos = self.edge_logits(z, masked[:, perm])
            neg = self.edge_logits(z, negatives[:, perm[perm < negatives.size(1)]])
            loss = (F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos))
                    + F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg)))
            if o.alpha:
                loss = loss + o.alpha * F.mse_loss(self.degrees(z), masked_degree)
            loss.backward()
            if o.grad_norm > 0:
                nn.utils.clip_grad_norm_(self.parameters(), o.grad_norm)
            optimizer.step()


REFERENCES = {"graphmae": PlainGraphMAE, "grace": PlainGRACE, "maskgae": PlainMaskGAE}


def plain_pretrain(name: str, data: Any, options: Any, ctx: RunContext) -> nn.Module:
    """The reference training loop (full batch, one Adam step per epoch; MaskGAE: its own epoch of
    mini-batch steps), epochs through ``ctx.progress``."""
    model = REFERENCES[name](data.num_features, options).to(ctx.device)
    x, edge_index = data.x.to(ctx.device), data.edge_index.to(ctx.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    epochs = options.epochs
    scheduler = None
    if getattr(options, "scheduler", False):
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: (1 + math.cos(e * math.pi / epochs)) * 0.5)
    model.train()
    for _ in ctx.progress(range(epochs)):
        if hasattr(model, "train_epoch"):
            model.train_epoch(x, edge_index, optimizer)
            continue
        optimizer.zero_grad()
        model.loss(x, edge_index).backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return model
