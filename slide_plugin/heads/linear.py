"""Linear probing: the encoder is frozen, embeddings are computed once, a linear classifier is trained."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import Data

from registry import Head, RunContext
from slide_plugin.heads.training import FitTracker, make_classifier


@dataclass
class LinearOptions:
    lr: float = 0.01
    weight_decay: float = 1e-4
    epochs: int = 300


@torch.no_grad()
def embed(encoder: nn.Module, data: Data, device: torch.device) -> torch.Tensor:
    encoder.eval()
    return encoder(data.x.to(device), data.edge_index.to(device))


class LinearProbe(Head):
    name = "linear"
    description = "linear probe on frozen embeddings (computed once), full-batch Adam, best-validation epoch"
    Options = LinearOptions
    overrides = {  # GraphMAE lr_f / weight_decay_f / max_epoch_f, paper.md §3.3
        "graphmae/Cora": dict(lr=0.01, weight_decay=1e-4, epochs=300),
        "graphmae/CiteSeer": dict(lr=0.01, weight_decay=0.01, epochs=300),
        "graphmae/PubMed": dict(lr=0.01, weight_decay=1e-4, epochs=300),
        "graphmae/Photo": dict(lr=0.01, weight_decay=5e-4, epochs=1000),
        "graphmae/Computers": dict(lr=0.01, weight_decay=5e-4, epochs=1000),
        "graphmae/ogbn-arxiv": dict(lr=0.01, weight_decay=5e-4, epochs=600),
    }
    quick = dict(epochs=30)

    def fit(self, encoder: nn.Module, data: Data, options: LinearOptions, ctx: RunContext) -> dict[str, float]:
        z = embed(encoder, data, ctx.device)
        y = data.y.to(ctx.device)
        train = data.train_mask.to(ctx.device)
        classifier = make_classifier(z.size(1), data.num_classes).to(ctx.device)
        optimizer = torch.optim.Adam(classifier.parameters(), lr=options.lr, weight_decay=options.weight_decay)
        tracker = FitTracker(ctx.device, data.num_classes)
        for epoch in ctx.progress(range(options.epochs), desc="linear probe", unit="epoch", leave=False):
            tracker.start_epoch()
            classifier.train()
            optimizer.zero_grad()
            F.cross_entropy(classifier(z[train]), y[train]).backward()
            optimizer.step()
            tracker.step(int(train.sum()))
            tracker.end_epoch()
            classifier.eval()
            tracker.evaluate(epoch, classifier(z), data)
        return tracker.result([classifier], [encoder])
