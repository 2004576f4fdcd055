"""Full fine-tuning: encoder and a new linear classifier trained together, full batch, two Adam optimisers."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import Data

from registry import Head, RunContext
from slide_plugin.heads.training import FitTracker, make_classifier


@dataclass
class FullOptions:
    head_lr: float = 0.01
    head_weight_decay: float = 1e-4
    encoder_lr: float = 1e-4
    encoder_weight_decay: float = 0.0
    epochs: int = 300


class FullFineTune(Head):
    name = "full"
    description = "full fine-tuning of encoder + linear classifier (full batch, best-validation epoch)"
    Options = FullOptions
    # Official FT settings (SLIDE graphmae/evaluation.py lr_wd_dict, main_transductive.py), paper.md §1b.
    overrides = {
        "graphmae/Cora": dict(head_lr=0.05, head_weight_decay=1e-4, encoder_lr=1e-7, encoder_weight_decay=0.0, epochs=300),
        "graphmae/CiteSeer": dict(head_lr=0.02, head_weight_decay=0.1, encoder_lr=1e-6, encoder_weight_decay=1e-3, epochs=250),
        "graphmae/PubMed": dict(head_lr=0.05, head_weight_decay=0.0, encoder_lr=1e-6, encoder_weight_decay=0.0, epochs=300),
        "graphmae/Photo": dict(head_lr=0.001, head_weight_decay=0.05, encoder_lr=5e-6, encoder_weight_decay=0.0, epochs=1000),
        "graphmae/Computers": dict(head_lr=0.001, head_weight_decay=0.01, encoder_lr=5e-5, encoder_weight_decay=0.0, epochs=1000),
        "graphmae/ogbn-arxiv": dict(head_lr=0.02, head_weight_decay=0.0, encoder_lr=5e-4, encoder_weight_decay=1e-3, epochs=600),
    }
    quick = dict(epochs=20)

    def fit(self, encoder: nn.Module, data: Data, options: FullOptions, ctx: RunContext) -> dict[str, float]:
        x, edge_index = data.x.to(ctx.device), data.edge_index.to(ctx.device)
        y, train = data.y.to(ctx.device), data.train_mask.to(ctx.device)
        classifier = make_classifier(encoder.embedding_dim, data.num_classes).to(ctx.device)
        optimizers = [
            torch.optim.Adam(classifier.parameters(), lr=options.head_lr, weight_decay=options.head_weight_decay),
            torch.optim.Adam(encoder.parameters(), lr=options.encoder_lr, weight_decay=options.encoder_weight_decay),
        ]
        tracker = FitTracker(ctx.device, data.num_classes)
        for epoch in ctx.progress(range(options.epochs), desc="full fine-tune", unit="epoch", leave=False):
            tracker.start_epoch()
            encoder.train()
            classifier.train()
            for opt in optimizers:
                opt.zero_grad()
            F.cross_entropy(classifier(encoder(x, edge_index))[train], y[train]).backward()
            for opt in optimizers:
                opt.step()
            tracker.step(int(train.sum()))
            tracker.end_epoch()
            encoder.eval()
            classifier.eval()
            with torch.no_grad():
                tracker.evaluate(epoch, classifier(encoder(x, edge_index)), data)
        return tracker.result([classifier, encoder])
