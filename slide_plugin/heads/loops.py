"""The training loops of the linear probe and of full fine-tuning (their components and options:
:mod:`slide_plugin.heads.linear`, :mod:`slide_plugin.heads.full`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import Data

from registry import RunContext
from registry.heads import (FitTracker, adam, batch_forward, embed, make_classifier, model_features, planned_epochs,
                            train_batches)
from slide_plugin.heads.full import FullOptions
from slide_plugin.heads.linear import LinearOptions


def fit_linear(encoder: nn.Module, data: Data, options: LinearOptions, ctx: RunContext) -> dict[str, float]:
    """Linear probe: embeddings computed once, a linear classifier trained on them (see :mod:`.linear`)."""
    z = embed(encoder, data, ctx.device)
    y = data.y.to(ctx.device)
    train = data.train_mask.to(ctx.device)
    classifier = make_classifier(z.size(1), data.num_classes, options.classifier_init).to(ctx.device)
    optimizer = torch.optim.Adam(classifier.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    tracker = FitTracker(ctx.device, data.num_classes, later_ties=options.later_ties)
    for epoch in tracker.epochs(options.epochs, ctx, desc="linear probe"):
        classifier.train()
        for nodes in train_batches(train, options.batch_size):
            tracker.optimise(F.cross_entropy(classifier(z[nodes]), y[nodes]), nodes.numel(), optimizer)
        tracker.end_epoch()
        classifier.eval()
        tracker.evaluate(epoch, classifier(z), data)
    return tracker.result([classifier], [encoder])


def fit_full(encoder: nn.Module, data: Data, options: FullOptions, ctx: RunContext) -> dict[str, float]:
    """Full fine-tuning of encoder and classifier (see :mod:`.full`)."""
    x, edge_index = model_features(encoder, data.x.to(ctx.device)), data.edge_index.to(ctx.device)
    y, train = data.y.to(ctx.device), data.train_mask.to(ctx.device)
    classifier = make_classifier(encoder.embedding_dim, data.num_classes, options.classifier_init).to(ctx.device)
    optimizers = [adam(classifier.parameters(), options.head_lr, options.head_weight_decay),
                  adam(encoder.parameters(), options.encoder_lr, options.encoder_weight_decay)]
    tracker = FitTracker(ctx.device, data.num_classes, budget_steps=options.budget_steps, later_ties=options.later_ties)
    n_train = int(train.sum())
    batches = 1 if options.batch_size is None else -(-n_train // options.batch_size)  # no RNG draw
    epochs = planned_epochs(options.epochs, options.budget_steps, batches)
    for epoch in tracker.epochs(epochs, ctx, desc="full fine-tune"):
        encoder.train(options.encoder_train_mode)
        classifier.train()
        for nodes in train_batches(train, options.batch_size):
            if tracker.budget_spent:
                break
            loss = F.cross_entropy(classifier(batch_forward(encoder, x, edge_index, nodes)), y[nodes])
            tracker.optimise(loss, nodes.numel(), *optimizers)
        tracker.end_epoch()
        encoder.eval()
        classifier.eval()
        with torch.no_grad():
            tracker.evaluate(epoch, classifier(encoder(x, edge_index)), data)
    return tracker.result([classifier, encoder])
