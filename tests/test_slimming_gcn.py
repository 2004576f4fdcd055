"""Slicing equivalence for every encoder type: a slimmed encoder computes exactly the kept neurons of
the original encoder whose removed neurons are zeroed (removed rows of each layer's weight and bias
set to zero, removed outputs set to zero after each block). GCN, GCN + BatchNorm (eval mode, non-trivial
running statistics), GCN with GRACE's shared PReLU, GAT, and GAT + BatchNorm. (LayerNorm is left out on
purpose: its statistics span all channels of a node, so slicing it, as the official code does for GraphMAE
on Photo/Computers/arXiv, is an approximation, not an identity.)"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from registry.slimming import select_units
from slide_plugin import slimming
from slide_plugin.nn import GATBlock, GCNBlock, StackEncoder

torch.set_num_threads(1)
N, IN = 30, 12


def graph():
    g = torch.Generator().manual_seed(0)
    return torch.randn(N, IN, generator=g), torch.randint(0, N, (2, 120), generator=g)


def randomize(encoder: StackEncoder) -> StackEncoder:
    """Non-trivial norm affine parameters and running statistics, non-zero biases and slopes."""
    torch.manual_seed(1)
    with torch.no_grad():
        for module in encoder.modules():
            if isinstance(module, (nn.BatchNorm1d, nn.LayerNorm)):
                module.weight.normal_(1.0, 0.3)
                module.bias.normal_(0.0, 0.3)
            if isinstance(module, nn.BatchNorm1d):
                module.running_mean.normal_(0.0, 0.5)
                module.running_var.uniform_(0.5, 2.0)
            if isinstance(module, nn.PReLU):
                module.weight.fill_(0.3)
        for block in encoder.blocks:
            block.conv.bias.normal_(0.0, 0.3)
    return encoder.eval()


ENCODERS = {
    "gcn": lambda: StackEncoder([GCNBlock(IN, 16, activation="relu"), GCNBlock(16, 8, activation="relu")]),
    "gcn-prelu-shared": lambda: StackEncoder([GCNBlock(IN, 16, activation="prelu"), GCNBlock(16, 8, activation="prelu")],
                                             share_activation=True),
    "gcn-bn-cat-l2": lambda: StackEncoder([GCNBlock(IN, 16, 0.5, "batchnorm", "elu"), GCNBlock(16, 16, 0.5, "batchnorm", "elu"),
                                           GCNBlock(16, 8, 0.5, "batchnorm", "elu")], readout="cat", l2_normalize=True,
                                          cap_truncated_output=True),
    "gat": lambda: StackEncoder([GATBlock(IN, 4, 2, 0.2, 0.1, None, "prelu"), GATBlock(8, 3, 2, 0.2, 0.1, None, "prelu")]),
    "gat-bn": lambda: StackEncoder([GATBlock(IN, 4, 2, 0.2, 0.1, "batchnorm", "prelu"),
                                    GATBlock(8, 4, 2, 0.2, 0.1, "batchnorm", "prelu"),
                                    GATBlock(8, 3, 2, 0.2, 0.1, "batchnorm", "prelu")]),
}


def zero_masked(encoder: StackEncoder, keeps: list[torch.Tensor]) -> tuple[StackEncoder, list[torch.Tensor]]:
    """A copy of the first ``len(keeps)`` blocks with the removed neurons zeroed; and the kept flat indices."""
    ref = copy.deepcopy(encoder)
    ref.blocks = ref.blocks[: len(keeps)]
    kept = []
    for block, keep in zip(ref.blocks, keeps):
        rows = block.out_index(keep)
        removed = torch.ones(block.out_dim, dtype=torch.bool)
        removed[rows] = False
        with torch.no_grad():
            block.conv.lin.weight[removed] = 0.0
            block.conv.bias[removed] = 0.0
        block.register_forward_hook(lambda module, args, out, removed=removed: out.masked_fill(removed, 0.0))
        kept.append(rows)
    return ref.eval(), kept


def check(encoder: StackEncoder, keeps: list[torch.Tensor]) -> None:
    x, edge_index = graph()
    slim = encoder.slimmed(keeps).eval()
    ref, kept = zero_masked(encoder, keeps)
    with torch.no_grad():
        for got, full, rows in zip(slim.layer_outputs(x, edge_index), ref.layer_outputs(x, edge_index), kept):
            torch.testing.assert_close(got, full[:, rows])
        offsets = torch.cumsum(torch.tensor([0] + [b.out_dim for b in ref.blocks[:-1]]), 0)
        flat = torch.cat([o + r for o, r in zip(offsets, kept)]) if ref.readout == "cat" else kept[-1]
        torch.testing.assert_close(slim(x, edge_index), ref(x, edge_index)[:, flat])


@pytest.mark.parametrize("kind", list(ENCODERS))
@pytest.mark.parametrize("layers", [3, 2, 1])
def test_random_subsets(kind, layers):
    encoder = randomize(ENCODERS[kind]())
    layers = min(layers, len(encoder.blocks))
    g = torch.Generator().manual_seed(layers)
    keeps = [torch.randperm(b.units, generator=g)[: max(1, b.units // 2 + i)].sort().values
             for i, b in enumerate(encoder.blocks[:layers])]
    check(encoder, keeps)


@pytest.mark.parametrize("kind", list(ENCODERS))
@pytest.mark.parametrize("slimmer", [s.name for s in slimming.BUILTIN if s.name != "custom"])
def test_named_strategies(kind, slimmer):
    """The keeps a named strategy computes (stride selection; MaskGAE's capped 2-X width) pass the same check."""
    encoder = randomize(ENCODERS[kind]())
    strategy = next(s for s in slimming.BUILTIN if s.name == slimmer)
    layers = None if strategy.layers is None else min(strategy.layers, len(encoder.blocks))
    ratios = strategy.ratios * (layers or len(encoder.blocks)) if len(strategy.ratios) == 1 else strategy.ratios
    keeps = [select_units(b.units, encoder.kept_units(i, r, layers))
             for i, (b, r) in enumerate(zip(encoder.blocks, ratios))]
    slim = strategy.slim(encoder, strategy.Options(), 0)
    if slim is not encoder:
        assert [b.units for b in slim.blocks] == [len(k) for k in keeps]
    check(encoder, keeps)


def test_cap_truncated_output_rule():
    """MaskGAE's 2-X: the kept second layer has min(ratio × output width, first-layer width) units."""
    wide = StackEncoder([GCNBlock(IN, 8), GCNBlock(8, 16)], cap_truncated_output=True)  # e=8 < hd=16
    assert [wide.kept_units(1, r, 2) for r in (1.0, 0.5, 0.25)] == [8, 8, 4]
    assert [wide.kept_units(1, r, None) for r in (1.0, 0.5)] == [16, 8]  # Half/Quarter: plain ratios
    plain = StackEncoder([GCNBlock(IN, 8), GCNBlock(8, 16)])
    assert plain.kept_units(1, 1.0, 2) == 16
