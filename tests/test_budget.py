"""Equal budgets: ``budget_steps`` makes full fine-tuning, SLIDE and SLIDE w/o de take exactly that many
optimiser steps, however many batches an epoch holds, and every row records what was spent."""

from __future__ import annotations

import pytest
import torch
from test_slide_head import tiny_encoder, tiny_graph

from registry import RunContext
from registry.config import resolve_options
from registry.errors import ConfigError
from registry.plugins import build_registry

BUDGETED = ("full", "slide", "lora", "slide-lora")


def fit(name: str, **values) -> dict:
    head = build_registry().get("head", name)
    options = resolve_options(head, "toy", "graphmae", "quick", {"epochs": 4} | values)
    torch.manual_seed(0)
    return head.fit(tiny_encoder(), tiny_graph(), options, RunContext(torch.device("cpu"), 0))


@pytest.mark.parametrize("name, batch_size, budget, epochs", [
    ("full", None, 7, 7),  # one step per epoch: the budget sets the epochs (above the 4 asked)
    ("full", 8, 7, 3),  # 24 training nodes in batches of 8: 3 steps per epoch, the third epoch stops early
    ("slide", 8, 7, 3),
    ("slide", 8, 2, 1),
    ("lora", 8, 5, 2),
])
def test_budget_sets_the_optimiser_steps(name, batch_size, budget, epochs):
    result = fit(name, batch_size=batch_size, budget_steps=budget)
    assert result["steps"] == budget and result["epochs"] == epochs
    assert result["samples_seen"] <= 24 * epochs


@pytest.mark.parametrize("name", BUDGETED)
def test_without_a_budget_the_epochs_rule(name):
    result = fit(name, batch_size=8)
    assert result["epochs"] == 4 and result["steps"] == 4 * 3 and result["samples_seen"] == 4 * 24


@pytest.mark.parametrize("name", BUDGETED)
def test_a_budget_below_one_step_is_refused(name):
    head = build_registry().get("head", name)
    with pytest.raises(ConfigError, match="budget_steps"):
        resolve_options(head, "toy", "graphmae", "quick", {"budget_steps": 0})
