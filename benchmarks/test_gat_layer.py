"""One GAT layer's forward plus backward at ogbn-arxiv's official GraphMAE size (1024 → 4 heads × 256
units, attention dropout 0.1), the fused layer (:mod:`slide_plugin.nn.gat_conv`) against PyG's
``GATConv``, on a random graph with a fraction of the synthetic arXiv-sized graph's nodes and edges
(``--bench-gat-fractions``; PyG's per-edge messages do not fit the whole graph in this machine's
memory). Time and peak memory per call; the report's memory target compares the memory they add.
The backward starts from a fixed upstream gradient made before the timing: no loss function's
buffers count towards either layer's memory."""

from __future__ import annotations

import pytest
import torch

from benchmarks import synthetic
from benchmarks.timing import label, time_calls

IN_DIM, HEADS, UNITS = 1024, 4, 256  # GraphMAE's official ogbn-arxiv hidden layers
PYG_MAX_FRACTION = 0.125  # above this PyG's layer needs more than ~4 GB


def make_conv(impl: str) -> torch.nn.Module:
    if impl == "pyg":
        from torch_geometric.nn import GATConv

        return GATConv(IN_DIM, UNITS, heads=HEADS, dropout=0.1)
    from slide_plugin.nn.gat_conv import GATConv as FusedGATConv

    return FusedGATConv(IN_DIM, UNITS, HEADS, dropout=0.1)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "fraction" in metafunc.fixturenames:
        values = [float(v) for v in metafunc.config.getoption("bench_gat_fractions").split(",") if v.strip()]
        metafunc.parametrize("fraction", values, ids=[f"{v:g}" for v in values])


@pytest.mark.parametrize("impl", ["fused", "pyg"])
def test_gat_layer(benchmark, request, impl, fraction, device, torch_device):
    if impl == "pyg" and fraction > PYG_MAX_FRACTION:
        pytest.skip(f"PyG's GATConv at {fraction:g} of the graph needs more memory than this suite allows")
    edge_index, nodes = synthetic.arxiv_like_edges(fraction)
    conv = make_conv(impl).to(torch_device).train()
    x = torch.randn(nodes, IN_DIM, device=torch_device, requires_grad=True)
    upstream = torch.randn(nodes, HEADS * UNITS, device=torch_device)
    edge_index = edge_index.to(torch_device)

    def step() -> None:
        conv.zero_grad(set_to_none=True)
        conv(x, edge_index).backward(upstream)
        x.grad = None

    label(benchmark, "gat-layer", f"{fraction:g} {device}", impl=impl, fraction=f"{fraction:g}", device=device)
    benchmark.extra_info.update(nodes=nodes, edges=edge_index.size(1))
    time_calls(benchmark, step, torch_device, request.config.getoption("bench_rounds"))
