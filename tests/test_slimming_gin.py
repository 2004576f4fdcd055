"""GIN slicing equivalence (as for GAT/GCN in test_slimming_gcn.py): a slimmed GIN encoder computes exactly
the kept units of the original encoder whose removed units are zeroed, in the MLP's hidden layer as in
its output; through the public slimming contract, with every built-in slimmer and selection rule."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from registry.slimming import SelectionOptions
from slide_plugin import slimming
from slide_plugin.nn import GINBlock, StackEncoder

torch.set_num_threads(1)
N, IN, UNITS, LAYERS = 40, 7, 12, 3


def graph() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(N, IN, generator=g, dtype=torch.float64), torch.randint(0, N, (2, 160), generator=g)


def encoder(norm: str | None, activation: str) -> StackEncoder:
    """A float64 GIN encoder in eval mode, with non-trivial norms (and running statistics) and PReLU slopes."""
    torch.manual_seed(1)
    blocks = [GINBlock(IN if i == 0 else UNITS, UNITS, None, 0.2, norm, activation) for i in range(LAYERS)]
    enc = StackEncoder(blocks, pooling="sum").double()
    with torch.no_grad():
        for module in enc.modules():
            if isinstance(module, (nn.BatchNorm1d, nn.LayerNorm)):
                module.weight.normal_(1.0, 0.3)
                module.bias.normal_(0.0, 0.3)
            if isinstance(module, nn.BatchNorm1d):
                module.running_mean.normal_(0.0, 0.5)
                module.running_var.uniform_(0.5, 2.0)
            if isinstance(module, nn.PReLU):
                module.weight.uniform_(0.1, 0.4)
    return enc.eval()


def masked_reference(full: StackEncoder, keeps: list[torch.Tensor]) -> StackEncoder:
    """The first ``len(keeps)`` blocks with every removed unit zeroed: removed hidden units' outputs
    (after their activation) and removed output units (after the block), written here from the module
    structure, not taken from the library."""
    ref = copy.deepcopy(full)
    ref.blocks = ref.blocks[: len(keeps)]
    for block, keep in zip(ref.blocks, keeps):
        removed = torch.ones(UNITS, dtype=torch.bool)
        removed[keep] = False
        mlp = block.conv.nn
        mlp[2].register_forward_hook(lambda m, a, out, removed=removed: out.masked_fill(removed, 0.0))
        block.register_forward_hook(lambda m, a, out, removed=removed: out.masked_fill(removed, 0.0))
    return ref.eval()


@pytest.mark.parametrize("selection", ["stride", "random"])
@pytest.mark.parametrize("slimmer", slimming.BUILTIN[:6], ids=lambda s: s.name)
@pytest.mark.parametrize("norm,activation", [("batchnorm", "prelu"), (None, "relu")])
def test_gin_slim_equals_masked_full_model(slimmer, selection, norm, activation):
    full = encoder(norm, activation)
    before = copy.deepcopy(full.state_dict())
    slim = slimmer.slim(full, SelectionOptions(selection), seed=5).eval()
    assert isinstance(slim, StackEncoder) and slim.pooling == "sum"
    keeps = []
    for big, small in zip(full.blocks, slim.blocks):  # kept units recovered from the (distinct) output biases
        bias = big.conv.nn[3].bias
        keeps.append(torch.tensor([int((bias == v).nonzero()) for v in small.conv.nn[3].bias]))
    x, edge_index = graph()
    with torch.no_grad():
        ref_layers = masked_reference(full, keeps).layer_outputs(x, edge_index)
        for got, want, keep in zip(slim.layer_outputs(x, edge_index), ref_layers, keeps):
            torch.testing.assert_close(got, want[:, keep], rtol=1e-10, atol=1e-10)
    for key, value in full.state_dict().items():  # the original is untouched
        assert torch.equal(value, before[key]), key
    if slimmer.name != "original":
        assert sum(p.numel() for p in slim.parameters()) < sum(p.numel() for p in full.parameters())


def test_gin_layer_views_show_output_weights():
    full = encoder("batchnorm", "prelu")
    views = full.layer_views()
    assert [v.units for v in views] == [UNITS] * LAYERS
    assert views[0].unit_weights().shape == (1, UNITS, UNITS)  # [heads, units, hidden]
