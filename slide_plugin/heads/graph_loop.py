"""The fine-tuning loop of the graph-classification heads (components and options: :mod:`slide_plugin.heads.graph`)."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from registry import RunContext
from registry.graphs import GraphSet, embed_graphs, graph_embeddings, graph_loader
from registry.heads import adam, make_classifier
from registry.metrics import count_parameters, fold_accuracy
from registry.tudatasets import stratified_folds
from slide_plugin.heads.graph import GraphFineTuneOptions, GraphSlideOptions
from slide_plugin.heads.slide_loop import _epoch_summary as epoch_summary
from slide_plugin.heads.weighting import make_reweighter, reweighted_loss


def _accuracy(encoder: nn.Module, classifier: nn.Module, graphs: GraphSet, labels: Tensor, device: torch.device) -> float:
    with torch.no_grad():
        z = graph_embeddings(encoder, graphs, device)
        return float((classifier(z.to(device)).argmax(1).cpu() == labels).float().mean()) * 100


def fit_fold(encoder: nn.Module, train: GraphSet, val: GraphSet, test: GraphSet, options: GraphFineTuneOptions,
             ctx: RunContext, reweight: bool) -> tuple[float, float, int]:
    """Train ``encoder`` (in place) and a new linear classifier on ``train``; the (validation, test) accuracy
    of the best-validation epoch (the first on ties) and the trained parameter count."""
    device = ctx.device
    classifier = make_classifier(encoder.embedding_dim, train.num_classes).to(device)
    optimizers = [adam(classifier.parameters(), options.head_lr, options.head_weight_decay),
                  adam(encoder.parameters(), options.encoder_lr, options.encoder_weight_decay)]
    reweighter = make_reweighter(encoder.embedding_dim, options, device) if reweight else None
    val_labels, test_labels = val.labels(), test.labels()
    best = (-1.0, 0.0)
    loader = graph_loader(train, options.batch_size, shuffle=True)
    for epoch in range(options.epochs):
        encoder.train()
        stats = []
        for batch in loader:
            batch = batch.to(device)
            z = embed_graphs(encoder, batch)
            labels = batch.y.view(-1)
            losses = F.cross_entropy(classifier(z), labels, reduction="none")
            loss = reweighted_loss(losses, z, reweighter if epoch > 0 else None, epoch, stats,  # as SLIDE: none in epoch 0
                                   labels, train.num_classes)
            for optimizer in optimizers:
                optimizer.zero_grad()
            loss.backward()
            for optimizer in optimizers:
                optimizer.step()
        encoder.eval()
        scores = (_accuracy(encoder, classifier, val, val_labels, device),
                  _accuracy(encoder, classifier, test, test_labels, device))
        if scores[0] > best[0]:
            best = scores
        if stats:
            ctx.log(epoch=epoch, lambda_p=reweighter.lambda_at(epoch), **epoch_summary(stats))
    return best[0], best[1], count_parameters(encoder, classifier, trainable_only=True)


def cross_validate(encoder: nn.Module, data: GraphSet, options: GraphFineTuneOptions | GraphSlideOptions,
                   ctx: RunContext, reweight: bool) -> dict[str, float]:
    """Per fold k: train on the other folds but k+1 (validation), score fold k; each fold starts from ``encoder``."""
    labels = data.labels()
    folds = stratified_folds(labels, options.fold_seed, options.folds)
    val_scores, test_scores, trainable = [], [], 0
    for k in ctx.progress(range(options.folds), desc="folds", unit="fold", leave=False):
        part = {name: data.like(g for g, f in zip(data, folds.tolist()) if keep(f))
                for name, keep in (("train", lambda f: f not in (k, (k + 1) % options.folds)),
                                   ("val", lambda f: f == (k + 1) % options.folds), ("test", lambda f: f == k))}
        val, test, trainable = fit_fold(copy.deepcopy(encoder), part["train"], part["val"], part["test"], options,
                                        ctx, reweight)
        val_scores.append(val)
        test_scores.append(test)
    test = fold_accuracy(test_scores)
    return {"test_accuracy": test["accuracy"], "test_accuracy_std": test["accuracy_std"],
            "val_accuracy": fold_accuracy(val_scores)["accuracy"], "trainable_params": trainable, "total_params": trainable}
