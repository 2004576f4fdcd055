"""SLIDE's weight learner is configured the same way on every task: the node, link and graph SLIDE heads
share its options (``slide_plugin.heads.weighting``), so a setting such as ``rff_input`` reaches the
learner whichever head runs."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from registry.config import resolve_options
from registry.plugins import build_registry
from slide_plugin.heads.weighting import WeightLearnerOptions, make_reweighter

SLIDE_HEADS = {"slide": ("Cora", "graphmae"), "link-slide": ("Cora-link", "maskgae-link"),
               "graph-slide": ("MUTAG", "graphmae-graph")}


@pytest.mark.parametrize("name", SLIDE_HEADS)
def test_every_slide_head_takes_every_weight_learner_option(name):
    head = build_registry().get("head", name)
    learner = {f.name for f in dataclasses.fields(WeightLearnerOptions)}
    assert learner <= {f.name for f in dataclasses.fields(head.Options)}
    dataset, pretrainer = SLIDE_HEADS[name]
    options = resolve_options(head, dataset, pretrainer, sets={"rff_input": "standardised", "lambda0": "0.5"})
    reweighter = make_reweighter(8, options, torch.device("cpu"))
    assert (reweighter.rff_input, reweighter.lambda0, reweighter.memory_size) == ("standardised", 0.5, options.memory_size)
    assert make_reweighter(8, dataclasses.replace(options, decorrelation=False), torch.device("cpu")) is None
