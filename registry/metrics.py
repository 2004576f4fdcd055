"""The tasks' evaluators (:mod:`registry.tasks`) and best-validation model selection, all in percent.

Node classification: F1-Mi (equal to accuracy for single-label multiclass) and F1-Ma (the unweighted
mean of per-class F1), :func:`f1_scores`. Link prediction: ROC-AUC and average precision of edge
scores against 0/1 labels, :func:`link_scores`. Graph classification: accuracy mean and population std
over folds, :func:`fold_accuracy`. Model selection reads validation scores only; test scores are
reported at the selected epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch



def f1_tensor(logits: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``[micro_f1, macro_f1]`` in percent, on the inputs' device (nothing is copied to the host), from
    logits ``[n, C]`` (or predictions ``[n]``) and labels ``[n]``."""
    import torch
    from torchmetrics.functional.classification import multiclass_f1_score

    pred = logits.argmax(dim=-1) if logits.dim() == 2 else logits
    pred, y = pred.detach(), y.detach()
    if y.device != pred.device:
        y = y.to(pred.device)
    micro = multiclass_f1_score(pred, y, num_classes=num_classes, average="micro")
    macro = multiclass_f1_score(pred, y, num_classes=num_classes, average="macro")
    return 100.0 * torch.stack([micro, macro])


def f1_scores(logits: torch.Tensor, y: torch.Tensor, num_classes: int) -> dict[str, float]:
    """``{"micro_f1", "macro_f1"}`` in percent (one host transfer of the two scores); see :func:`f1_tensor`."""
    micro, macro = f1_tensor(logits, y, num_classes).tolist()
    return {"micro_f1": micro, "macro_f1": macro}


def link_scores(scores: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """``{"auc", "ap"}`` in percent: ROC-AUC and average precision (torchmetrics) of edge ``scores [n]``
    (logits or probabilities: both are rank-based) against 0/1 ``labels [n]``."""
    import torch
    from torchmetrics.functional.classification import binary_auroc, binary_average_precision

    scores, labels = scores.detach().float(), labels.detach().long().to(scores.device)
    auc, ap = binary_auroc(scores, labels), binary_average_precision(scores, labels)
    auc, ap = (100.0 * torch.stack([auc, ap])).tolist()
    return {"auc": auc, "ap": ap}


def fold_accuracy(accuracies: list[float]) -> dict[str, float]:
    """``{"accuracy", "accuracy_std"}``: the mean and population std of per-fold accuracies (percent)."""
    import numpy as np

    values = np.asarray(accuracies, dtype=float)
    if values.size == 0:
        raise ValueError("no fold accuracies")
    return {"accuracy": float(values.mean()), "accuracy_std": float(values.std())}


@dataclass
class BestValidation:
    """Keeps the test scores of the epoch with the best validation Micro-F1. On a tie the first best
    wins, or the latest with ``later_ties`` (the official GraphMAE evaluation compares with ``>=``)."""

    later_ties: bool = False
    best_val: float = float("-inf")
    best_epoch: int = -1
    scores: dict[str, float] = field(default_factory=dict)

    def update(self, epoch: int, val: dict[str, float], test: dict[str, float]) -> bool:
        """Record an epoch; returns True when it is the new best."""
        if val["micro_f1"] > self.best_val or (self.later_ties and val["micro_f1"] == self.best_val):
            self.best_val, self.best_epoch = val["micro_f1"], epoch
            self.scores = {f"val_{k}": v for k, v in val.items()} | {f"test_{k}": v for k, v in test.items()}
            return True
        return False

    def result(self) -> dict[str, float]:
        return dict(self.scores, best_epoch=self.best_epoch)


def count_parameters(*modules: torch.nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for m in modules for p in m.parameters() if p.requires_grad or not trainable_only)
