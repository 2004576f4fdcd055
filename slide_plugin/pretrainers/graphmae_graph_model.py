"""GraphMAE's graph-level model and pretraining loop (the component: :mod:`slide_plugin.pretrainers.graphmae_graph`)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch_geometric.utils import add_self_loops, remove_self_loops

from registry import RunContext
from registry.graphs import GraphSet, graph_loader
from registry.numerics import FiniteWatch
from slide_plugin.nn import GINBlock, StackEncoder
from slide_plugin.pretrainers.graphmae_graph import GraphMAEGraphOptions
from slide_plugin.pretrainers.graphmae_model import GraphMAEModel, sce_loss


def with_self_loops(graphs: GraphSet) -> GraphSet:
    """A copy of ``graphs`` with exactly one self-loop per node (GraphMAE's loader); edge attributes,
    which GIN does not read, are dropped."""
    looped = []
    for g in graphs:
        g = g.clone()
        g.edge_index = add_self_loops(remove_self_loops(g.edge_index)[0], num_nodes=g.num_nodes)[0]
        g.edge_attr = None
        looped.append(g)
    return graphs.like(looped)


class GraphMAEGraphModel(nn.Module):
    """GIN encoder (with the dataset's pooling), encoder-to-decoder projection, one-layer GIN decoder, [MASK] token."""

    mask_features = GraphMAEModel.mask_features  # the same masking as node-level GraphMAE

    def __init__(self, in_dim: int, o: GraphMAEGraphOptions):
        super().__init__()
        self.options = o
        blocks = [GINBlock(in_dim if i == 0 else o.num_hidden, o.num_hidden, None, o.in_drop, o.norm, o.activation)
                  for i in range(o.num_layers)]
        self.encoder = StackEncoder(blocks, pooling=o.pooling)
        self.encoder_to_decoder = nn.Linear(o.num_hidden, o.num_hidden, bias=False)
        self.decoder = GINBlock(o.num_hidden, in_dim, o.num_hidden, o.in_drop, o.norm, o.activation, outer=False)
        self.mask_token = nn.Parameter(torch.zeros(1, in_dim))

    def loss(self, x: Tensor, edge_index: Tensor) -> Tensor:
        masked_x, mask_nodes = self.mask_features(x)
        code = self.encoder_to_decoder(self.encoder(masked_x, edge_index))
        code = code.clone()
        code[mask_nodes] = 0.0  # re-mask before decoding
        recon = self.decoder(code, edge_index)
        return sce_loss(recon[mask_nodes], x[mask_nodes], self.options.alpha_l)


def pretrain(data: GraphSet, options: GraphMAEGraphOptions, ctx: RunContext) -> nn.Module:
    """Pretrain on every graph of ``data`` (labels unused) in shuffled mini-batches; the encoder in eval mode."""
    model = GraphMAEGraphModel(data.num_features, options).to(ctx.device)
    loader = graph_loader(data, options.batch_size, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    epochs = options.epochs
    schedule = (lambda e: (1 + math.cos(e * math.pi / epochs)) * 0.5) if options.scheduler else (lambda e: 1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    model.train()
    watch = FiniteWatch("GraphMAE (graph) pretraining loss")
    for epoch in ctx.progress(range(epochs), desc="pretrain graphmae-graph", unit="epoch"):
        total = torch.zeros((), device=ctx.device)
        for batch in loader:
            batch = batch.to(ctx.device)
            optimizer.zero_grad()
            loss = model.loss(batch.x, batch.edge_index)
            loss.backward()
            optimizer.step()
            total += loss.detach()
        scheduler.step()
        watch(epoch, total / len(loader))
    watch.check()
    return model.encoder.eval()
