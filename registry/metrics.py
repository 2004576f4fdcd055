"""Classification metrics and best-validation model selection.

F1-Mi equals accuracy for single-label multiclass; F1-Ma is the unweighted mean of per-class F1.
Model selection reads validation scores only; test scores are reported at the selected epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

METRICS = {"test_micro_f1": "F1-Mi", "test_macro_f1": "F1-Ma"}  # what tables show by default, and their labels


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
