"""Model selection reads validation only: changing the test labels changes no selected epoch, no
validation score and no trained weight, for every registered head."""

from __future__ import annotations

import copy

import pytest
import torch
from test_slide_head import tiny_encoder, tiny_graph

from registry import RunContext
from registry.config import resolve_options
from registry.plugins import build_registry

HEADS = [h for h in build_registry().names("head") if "node-classification" in build_registry().get("head", h).tasks]
# link-prediction heads: tests/test_link_prediction.py::test_test_edges_do_not_steer_selection


def fit(head, data, seed: int = 0) -> tuple[dict, torch.nn.Module]:
    options = resolve_options(head, "toy", "graphmae", "quick", {"epochs": 15})
    torch.manual_seed(seed)
    encoder = tiny_encoder()
    result = head.fit(encoder, data, options, RunContext(torch.device("cpu"), seed))
    return result, encoder


@pytest.mark.parametrize("name", HEADS)
def test_test_labels_do_not_steer_selection(name):
    head = build_registry().get("head", name)
    data = tiny_graph()
    flipped = copy.copy(data)
    flipped.y = data.y.clone()
    flipped.y[data.test_mask] = (data.y[data.test_mask] + 1) % data.num_classes  # every test label wrong
    first, encoder_a = fit(head, data)
    second, encoder_b = fit(head, flipped)
    assert second["test_micro_f1"] != first["test_micro_f1"]  # the test labels did change the score…
    for key in ("best_epoch", "val_micro_f1", "val_macro_f1"):  # …and nothing that selection used
        assert second[key] == first[key], key
    for a, b in zip(encoder_a.state_dict().values(), encoder_b.state_dict().values()):
        assert torch.equal(a, b)
