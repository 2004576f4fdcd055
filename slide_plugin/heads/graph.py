"""Graph-classification heads, all scored by k-fold stratified cross-validation (``folds`` folds drawn from
``fold_seed``; GraphMAE's evaluation uses 10 folds from seed 0 for every pretraining seed):

- ``svm``: GraphMAE's evaluation. Frozen encoder; graph embeddings pooled by the encoder's ``pooling``; per
  fold an RBF SVM whose C is chosen by inner 5-fold grid search on the training folds (:mod:`registry.svm`).
- ``graph-full``: per fold, a copy of the encoder and a linear classifier on pooled embeddings trained
  together (two Adam optimisers) on mini-batches of training graphs; the next fold is the validation
  fold, and the test fold is scored at the best-validation epoch.
- ``graph-slide``: the same loop with SLIDE's de-correlation: the cross-entropy of each mini-batch of
  graphs is re-weighted by :class:`~slide_plugin.decorrelation.SampleReweighter` weights learnt on the
  batch's detached graph embeddings (from the second epoch on). ``decorrelation=False`` is "w/o de".

All report ``test_accuracy`` (mean over folds, %), ``test_accuracy_std`` (population std over folds) and
``val_accuracy``. No official setting exists for fine-tuning on these datasets (paper.md §2.5): the
fine-tuning defaults below are this benchmark's, the same for both heads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from registry import Count, Head, NonNegativeFloat, NonNegativeInt, PositiveFloat, Range, RunContext
from slide_plugin.heads.weighting import WeightLearnerOptions

if TYPE_CHECKING:
    from torch import nn

    from registry.graphs import GraphSet

GRAPH = ("graph-classification",)
Folds = Annotated[int, Range(2)]


@dataclass
class SvmOptions:
    folds: Folds = 10
    fold_seed: NonNegativeInt = 0


@dataclass
class GraphFineTuneOptions:
    folds: Folds = 10
    fold_seed: NonNegativeInt = 0
    epochs: Count = 20
    batch_size: Count = 32
    head_lr: PositiveFloat = 0.01
    head_weight_decay: NonNegativeFloat = 0.0
    encoder_lr: PositiveFloat = 1e-4
    encoder_weight_decay: NonNegativeFloat = 0.0


@dataclass
class GraphSlideOptions(WeightLearnerOptions, GraphFineTuneOptions):
    memory_size: NonNegativeInt = 32  # rows of the EMA memory of past batches of graphs


class SvmHead(Head):
    name = "svm"
    tasks = GRAPH
    description = "GraphMAE's graph evaluation: SVM (C by inner CV) on frozen pooled embeddings, k-fold CV"
    Options = SvmOptions
    quick = dict(folds=5)

    def fit(self, encoder: nn.Module, data: GraphSet, options: SvmOptions, ctx: RunContext) -> dict[str, float]:
        from registry.graphs import graph_embeddings
        from registry.metrics import count_parameters
        from registry.svm import svm_cross_validation
        from registry.tudatasets import stratified_folds

        labels = data.labels()
        z = graph_embeddings(encoder, data, ctx.device)
        scores = svm_cross_validation(z.numpy(), labels.numpy(), stratified_folds(labels, options.fold_seed, options.folds).numpy())
        ctx.log(chosen_c=list(scores.chosen_c), fold_accuracies=list(scores.accuracies))
        return scores.metrics() | {"trainable_params": 0, "total_params": count_parameters(encoder)}


class GraphFineTune(Head):
    name = "graph-full"
    tasks = GRAPH
    description = "full fine-tuning on graph classification: encoder + linear classifier on pooled embeddings, per fold"
    Options = GraphFineTuneOptions
    quick = dict(epochs=2, folds=3)

    def fit(self, encoder: nn.Module, data: GraphSet, options: GraphFineTuneOptions, ctx: RunContext) -> dict[str, float]:
        from slide_plugin.heads.graph_loop import cross_validate

        return cross_validate(encoder, data, options, ctx, reweight=False)


class GraphSlide(Head):
    name = "graph-slide"
    tasks = GRAPH
    description = "SLIDE on graph classification: fine-tuning with de-correlation re-weighted graph embeddings, per fold"
    default_slimmer = "2-half"
    Options = GraphSlideOptions
    quick = dict(epochs=2, folds=3, epochb=5)

    def fit(self, encoder: nn.Module, data: GraphSet, options: GraphSlideOptions, ctx: RunContext) -> dict[str, float]:
        from slide_plugin.heads.graph_loop import cross_validate

        return cross_validate(encoder, data, options, ctx, reweight=options.decorrelation)
