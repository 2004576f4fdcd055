"""Best-validation selection: only validation decides, and the tie rule is explicit."""

from __future__ import annotations

import torch

from registry.metrics import BestValidation, f1_scores


def run(tracker: BestValidation) -> BestValidation:
    for epoch, (val, test) in enumerate([(70.0, 60.0), (80.0, 65.0), (80.0, 75.0), (79.0, 99.0)]):
        tracker.update(epoch, {"micro_f1": val, "macro_f1": val}, {"micro_f1": test, "macro_f1": test})
    return tracker


def test_first_best_wins_by_default_and_test_never_decides():
    best = run(BestValidation()).result()
    assert best["best_epoch"] == 1 and best["test_micro_f1"] == 65.0


def test_later_ties_keeps_the_latest_best_epoch_as_official_graphmae():
    best = run(BestValidation(later_ties=True)).result()
    assert best["best_epoch"] == 2 and best["test_micro_f1"] == 75.0


def test_f1_scores_micro_is_accuracy_and_macro_averages_classes():
    y = torch.tensor([0, 0, 0, 1])
    scores = f1_scores(torch.tensor([0, 0, 0, 0]), y, num_classes=2)
    assert scores["micro_f1"] == 75.0
    assert abs(scores["macro_f1"] - 100 * (6 / 7) / 2) < 1e-4
