"""SLIDE's training loop, shared by the SLIDE and LoRA heads (components and options: :mod:`slide_plugin.heads.slide`)."""

from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data

from registry import RunContext
from registry.heads import FitTracker, adam, batch_forward, make_classifier, model_features, planned_epochs
from slide_plugin.heads.slide import SlideOptions
from slide_plugin.heads.weighting import make_reweighter, reweighted_loss


def _epoch_summary(stats: list[dict[str, Tensor]]) -> dict[str, float]:
    """One line per epoch from the batches' 0-dim diagnostics, in one host transfer: extremes of the
    weights over its batches, means of the rest."""
    names = list(stats[0])
    values = torch.stack([torch.stack([s[name] for s in stats]) for name in names])  # [names, batches]
    summary = values.mean(dim=1)
    for name, extreme in (("weight_min", torch.amin), ("weight_max", torch.amax)):
        summary[names.index(name)] = extreme(values[names.index(name)])
    return dict(zip(names, summary.tolist())) | {"batches": len(stats)}


def train_reweighted(encoder: nn.Module, data: Data, options: SlideOptions, ctx: RunContext,
                     encoder_params: Iterable[nn.Parameter], desc: str = "slide",
                     class_mass: bool = False) -> dict[str, float]:
    """The SLIDE loop (module docstring); ``encoder_params`` are the encoder parameters the second Adam
    optimiser trains (all of them for SLIDE, the adapters for LoRA, none for a frozen encoder); ``class_mass``:
    the weights keep every class's share of a batch (:class:`~slide_plugin.decorrelation.SampleReweighter`)."""
    device = ctx.device
    x, edge_index, y = model_features(encoder, data.x.to(device)), data.edge_index.to(device), data.y.to(device)
    train_nodes = data.train_mask.to(device).nonzero().view(-1)
    classifier = make_classifier(encoder.embedding_dim, data.num_classes, options.classifier_init).to(device)
    optimizers = [adam(classifier.parameters(), options.head_lr, options.head_weight_decay)]
    encoder_params = [p for p in encoder_params if p.requires_grad]
    if encoder_params:
        optimizers.append(adam(encoder_params, options.encoder_lr, options.encoder_weight_decay))
    reweighter = make_reweighter(encoder.embedding_dim, options, device, class_mass)
    tracker = FitTracker(device, data.num_classes, budget_steps=options.budget_steps, later_ties=options.later_ties)
    batch_size = options.batch_size or train_nodes.numel()  # None: full batch
    epochs = planned_epochs(options.epochs, options.budget_steps, -(-train_nodes.numel() // batch_size))
    for epoch in ctx.progress(range(epochs), desc=desc, unit="epoch", leave=False):
        if reweighter is not None and options.reset_memory_each_epoch:
            reweighter.reset()
        tracker.start_epoch()
        encoder.train(options.encoder_train_mode)
        classifier.train()
        stats = []
        shuffled = train_nodes[torch.randperm(train_nodes.numel(), device=device)]
        for nodes in shuffled.split(batch_size):
            if tracker.budget_spent:
                break
            z = batch_forward(encoder, x, edge_index, nodes)
            losses = F.cross_entropy(classifier(z), y[nodes], reduction="none")
            loss = reweighted_loss(losses, z, reweighter if epoch > 0 else None,  # none in the first epoch
                                   epoch + options.lambda_epoch_offset, stats, y[nodes], data.num_classes)
            for optimizer in optimizers:
                optimizer.zero_grad()
            loss.backward()
            for optimizer in optimizers:
                optimizer.step()
            tracker.step(nodes.numel(), loss)
        tracker.end_epoch()
        if stats:
            lambda_p = reweighter.lambda_at(epoch + options.lambda_epoch_offset)
            ctx.log(epoch=epoch, lambda_p=lambda_p, **_epoch_summary(stats))
        encoder.eval()
        classifier.eval()
        with torch.no_grad():
            tracker.evaluate(epoch, classifier(encoder(x, edge_index)), data)
    return tracker.result([classifier, encoder])


