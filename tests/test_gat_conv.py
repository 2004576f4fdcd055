"""The fused GAT layer is PyG's ``GATConv``: same parameters and initialisation draws, same outputs and
gradients (inputs, weights, attention vectors, bias) in eval and train mode (same attention-dropout
draws), on a receptive field's rows, after slicing, and from CSR inputs; deliberately broken
variants fail the same checks."""

from __future__ import annotations

from typing import Callable

import pytest
import torch
from torch_geometric.nn import GATConv as PyGGATConv

import slide_plugin.nn.gat_conv as gat_conv
from slide_plugin.nn import GATBlock
from slide_plugin.nn.gat_conv import AttentionGraph, GATConv
from registry.receptive import receptive_field


def random_graph(n: int, edges: int, seed: int = 0) -> torch.Tensor:
    """Random directed edges with some self-loops and duplicates, and a few isolated nodes."""
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, n - 3, (2, edges), generator=g)
    loops = torch.arange(0, n - 3, 7).repeat(2, 1)
    return torch.cat([edge_index, loops, edge_index[:, :5]], dim=1)


def pair(in_dim: int, units: int, heads: int, dropout: float = 0.0, dtype=torch.float64) -> tuple[PyGGATConv, GATConv]:
    torch.manual_seed(3)
    theirs = PyGGATConv(in_dim, units, heads=heads, dropout=dropout, negative_slope=0.15).to(dtype)
    torch.manual_seed(3)
    ours = GATConv(in_dim, units, heads, dropout, negative_slope=0.15).to(dtype)
    with torch.no_grad():
        theirs.bias.normal_()  # a non-zero bias, so that a lost bias shows
        ours.bias.copy_(theirs.bias)
    return theirs, ours


def outputs_and_grads(conv: torch.nn.Module, x: torch.Tensor, edge_index: torch.Tensor, keep: int | None,
                      seed: int, **kwargs) -> list[torch.Tensor]:
    """The conv's first ``keep`` outputs and the gradients of a random linear function of them with
    respect to its parameters (by name) and, for a dense input, to the input."""
    x = x.detach().clone().requires_grad_(x.layout == torch.strided)
    torch.manual_seed(seed)
    out = conv(x, edge_index, **kwargs)[:keep]
    weight = torch.randn(out.shape, generator=torch.Generator().manual_seed(99), dtype=out.dtype)
    params = dict(conv.named_parameters())
    inputs = [params[name] for name in sorted(params)] + ([x] if x.requires_grad else [])
    return [out, *torch.autograd.grad((out * weight).sum(), inputs)]


def assert_same(ours: list[torch.Tensor], theirs: list[torch.Tensor], dtype=torch.float64) -> None:
    tolerance = dict(rtol=1e-9, atol=1e-11) if dtype == torch.float64 else dict(rtol=2e-4, atol=2e-5)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, **tolerance)


def check_against_pyg(heads: int = 3, units: int = 5, train: bool = True, dtype=torch.float64) -> None:
    n = 40
    theirs, ours = pair(11, units, heads, dropout=0.3, dtype=dtype)
    theirs.train(train), ours.train(train)
    x, edge_index = torch.randn(n, 11, dtype=dtype), random_graph(n, 150)
    assert_same(outputs_and_grads(ours, x, edge_index, None, seed=7),
                outputs_and_grads(theirs, x, edge_index, None, seed=7), dtype)


def test_same_parameters_and_initialisation_as_pyg():
    theirs, ours = pair(7, 4, 3, dtype=torch.float32)
    torch.manual_seed(3)
    reference = PyGGATConv(7, 4, heads=3).state_dict()
    torch.manual_seed(3)
    mine = GATConv(7, 4, 3).state_dict()
    assert list(mine) == [k for k in reference if reference[k] is not None]
    for key in mine:
        assert torch.equal(mine[key], reference[key]), key


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train-dropout"])
@pytest.mark.parametrize("heads,units", [(1, 6), (3, 5)])
def test_outputs_and_gradients_equal_pyg(heads, units, train):
    check_against_pyg(heads, units, train)


def test_float32_equals_pyg_to_float_tolerance():
    check_against_pyg(4, 8, train=True, dtype=torch.float32)


def test_receptive_field_rows_equal_pyg():
    n = 60
    theirs, ours = pair(9, 4, 2)
    x, edge_index = torch.randn(n, 9, dtype=torch.float64), random_graph(n, 200, seed=1)
    field = receptive_field(torch.tensor([3, 10, 41]), edge_index, n, [0, 0])
    local_x = x[field.nodes]
    for edges, rows in zip(field.layer_edges, field.layer_rows):
        assert_same(outputs_and_grads(ours, local_x, edges, rows, seed=0, rows=rows),
                    outputs_and_grads(theirs, local_x, edges, rows, seed=0))
    assert ours(local_x, field.layer_edges[0], 5).shape == (5, 8)  # only the rows asked for


def test_sparse_input_equals_pyg_dense_input():
    n = 50
    theirs, ours = pair(30, 4, 2)
    dense = (torch.rand(n, 30, dtype=torch.float64) < 0.1) * torch.rand(n, 30, dtype=torch.float64)
    edge_index = random_graph(n, 180, seed=2)
    sparse = outputs_and_grads(ours, dense.to_sparse_csr(), edge_index, None, seed=0)
    assert_same(sparse, outputs_and_grads(theirs, dense, edge_index, None, seed=0)[:-1])  # no input gradient


def test_sliced_block_equals_pyg_on_the_kept_weights():
    torch.manual_seed(0)
    block = GATBlock(12, 6, heads=3, attn_drop=0.0).double()
    block.reset_xavier_normal(1.4)
    small = block.sliced(torch.tensor([0, 2, 3, 5, 7, 8, 11]), torch.tensor([1, 4, 5]))
    reference = PyGGATConv(7, 3, heads=3).double()
    reference.load_state_dict(small.conv.state_dict(), strict=False)
    x, edge_index = torch.randn(30, 7, dtype=torch.float64), random_graph(30, 90, seed=3)
    assert_same(outputs_and_grads(small.conv, x, edge_index, None, seed=0),
                outputs_and_grads(reference, x, edge_index, None, seed=0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_equals_cpu():
    _, ours = pair(11, 5, 3, dtype=torch.float32)
    x, edge_index = torch.randn(40, 11), random_graph(40, 150)
    cpu = outputs_and_grads(ours.eval(), x, edge_index, None, seed=0)
    cuda = outputs_and_grads(ours.cuda(), x.cuda(), edge_index.cuda(), None, seed=0)
    assert_same([t.cpu() for t in cuda], cpu, torch.float32)


_SAMPLED_ADDMM = torch.sparse.sampled_addmm


def _alpha_gradient_reversed(pattern, a, b, beta):
    """Broken: the attention gradient in the reverse edge order."""
    out = _SAMPLED_ADDMM(pattern, a, b, beta=beta)
    return torch.sparse_csr_tensor(out.crow_indices(), out.col_indices(), out.values().flip(0), out.shape)


def _no_self_loops(edge_index, num_nodes, rows):
    source, target = edge_index
    keep = (source != target) & (target < rows)
    return AttentionGraph(source[keep], target[keep], num_nodes, rows)


def _sum_not_softmax(logits, index, num_nodes):
    return torch.sigmoid(logits)


BROKEN: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "attention-gradient": lambda mp: mp.setattr(torch.sparse, "sampled_addmm", _alpha_gradient_reversed),
    "no-self-loops": lambda mp: mp.setattr(AttentionGraph, "build", classmethod(
        lambda cls, e, n, r: _no_self_loops(e, n, r))),
    "no-edge-softmax": lambda mp: mp.setattr(gat_conv, "softmax", _sum_not_softmax),
    "messages-reversed": lambda mp: mp.setattr(AttentionGraph, "build", classmethod(
        lambda cls, e, n, r: _REAL_BUILD(e.flip(0), n, r))),
}
_REAL_BUILD = AttentionGraph.build


@pytest.mark.parametrize("variant", list(BROKEN))
def test_broken_layers_fail_the_equivalence_check(variant, monkeypatch):
    BROKEN[variant](monkeypatch)
    with pytest.raises(AssertionError):
        check_against_pyg(3, 5, train=False)
