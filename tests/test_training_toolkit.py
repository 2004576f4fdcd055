"""The loops the public toolkit carries for plugins: ``registry.training.minimise`` and
``FitTracker.epochs`` / ``FitTracker.optimise`` (used by the README examples and the built-in heads)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from registry import RunContext
from registry.heads import FitTracker
from registry.numerics import NonFiniteError
from registry.training import TrainOptions, minimise


def test_minimise_takes_one_adam_step_per_epoch_on_every_module():
    torch.manual_seed(0)
    a, b = nn.Linear(3, 2), nn.Linear(2, 1)
    x, target = torch.randn(16, 3), torch.randn(16, 1)
    before = [p.detach().clone() for p in (*a.parameters(), *b.parameters())]
    losses = minimise(lambda: ((b(a(x)) - target) ** 2).mean(), [a, b], TrainOptions(epochs=30, lr=0.05),
                      RunContext(torch.device("cpu")))
    assert len(losses) == 30 and losses[-1] < losses[0]
    assert all(not torch.equal(p, q) for p, q in zip(before, (*a.parameters(), *b.parameters())))


def test_minimise_stops_at_the_epoch_whose_loss_is_not_finite():
    calls = []

    def loss():
        calls.append(1)
        value = (layer.weight ** 2).sum()
        return value * float("nan") if len(calls) == 4 else value

    layer = nn.Linear(2, 2)
    with pytest.raises(NonFiniteError, match="train loss became nan at epoch 3"):
        minimise(loss, [layer], TrainOptions(epochs=10), RunContext(torch.device("cpu")))


def test_fit_tracker_epochs_time_and_count_each_epoch_once():
    tracker = FitTracker(torch.device("cpu"), num_classes=2)
    classifier = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(classifier.parameters(), lr=0.1)
    x, y = torch.randn(10, 4), torch.arange(10) % 2
    masks = {name: torch.arange(10) % 3 == i for i, name in enumerate(("train_mask", "val_mask", "test_mask"))}
    data = type("Data", (), dict(y=y, **masks))()
    for epoch in tracker.epochs(3):
        for _ in range(2):
            tracker.optimise(nn.functional.cross_entropy(classifier(x), y), 10, optimizer)
        if epoch < 2:
            tracker.evaluate(epoch, classifier(x), data)  # ends the epoch's timing: evaluation is not training
    result = tracker.result([classifier])
    assert (result["epochs"], result["steps"], result["samples_seen"]) == (3, 6, 60)
    assert len(tracker.epoch_times) == 3
