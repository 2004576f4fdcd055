"""Sparse (CSR) node features: the same embeddings, gradients and batch rows as dense ones, dropout with
the dense distribution, and the conversion rule."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from test_slide_head import block_extra_hops, gcn_block_encoder, tiny_encoder

from registry.heads import batch_forward, model_features
from registry.receptive import receptive_field
from slide_plugin.lora import apply_lora
from registry.sparse import select_rows, sparse_features
from slide_plugin.nn.sparse import accept_sparse_input, feature_dropout, linear


def bag_of_words(n: int = 300, features: int = 12, density: float = 0.04, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, features, generator=g) < density).float() * torch.rand(n, features, generator=g)
    x[torch.arange(n), torch.randint(0, features, (n,), generator=g)] = 1.0  # every row has a word
    return x


def graph(n: int = 300, per_node: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    edges = torch.randint(0, n, (2, per_node * n), generator=g)
    return torch.cat([edges, edges.flip(0)], dim=1)


def test_conversion_rule():
    x = bag_of_words(density=0.01)  # ≈ 9% non-zeros with the forced word per row
    assert sparse_features(x, max_density=0.2).layout == torch.sparse_csr
    assert sparse_features(x, max_density=0.05) is x  # not sparse enough
    assert sparse_features(torch.randn(5, 4)).layout == torch.strided
    assert sparse_features(torch.zeros(5, 4, dtype=torch.long)).dtype == torch.long  # not float: as is
    assert model_features(nn.Linear(12, 3), x).layout == torch.strided  # the encoder did not opt in
    assert model_features(tiny_encoder(), sparse_features(x, 1.0)).layout == torch.sparse_csr


def test_select_rows_equals_dense_rows():
    x = bag_of_words()
    index = torch.tensor([5, 0, 299, 5, 17])
    rows = select_rows(x.to_sparse_csr(), index)
    assert rows.layout == torch.sparse_csr and rows.shape == (5, 12)
    torch.testing.assert_close(rows.to_dense(), x[index])


def test_sparse_dropout_has_the_dense_distribution():
    x = torch.ones(400, 50)
    x[:, 25:] = 0
    torch.manual_seed(0)
    out = feature_dropout(x.to_sparse_csr(), nn.Dropout(0.2)).to_dense()
    assert (out[:, 25:] == 0).all()  # zeros stay zeros
    kept = out[:, :25]
    assert set(kept.unique().tolist()) == {0.0, 1.25}  # kept entries are scaled by 1 / (1 - p)
    assert abs(float((kept == 0).float().mean()) - 0.2) < 0.02
    assert torch.equal(feature_dropout(x, nn.Dropout(0.2).eval()), x)


@pytest.mark.parametrize("make", [tiny_encoder, gcn_block_encoder])
@pytest.mark.parametrize("lora", [False, True])
def test_encoder_output_and_gradients_match_dense(make, lora):
    x, edge_index = bag_of_words(), graph()
    grads = []
    outputs = []
    for features in (x, x.to_sparse_csr()):
        encoder = make().eval()
        if lora:
            adapters = apply_lora(encoder, rank=2, alpha=4.0)
            for a in adapters:
                nn.init.normal_(a)  # non-zero adapters, so both LoRA factors carry gradients
        out = encoder(features, edge_index)
        out.pow(2).sum().backward()
        outputs.append(out.detach())
        grads.append([p.grad.clone() for p in encoder.parameters() if p.requires_grad])
    torch.testing.assert_close(outputs[1], outputs[0], rtol=1e-4, atol=1e-5)
    for sparse_grad, dense_grad in zip(grads[1], grads[0]):
        torch.testing.assert_close(sparse_grad, dense_grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("make", [tiny_encoder, gcn_block_encoder])
def test_batch_rows_from_sparse_features(make):
    x, edge_index = bag_of_words(), graph(per_node=1)
    encoder = make().eval()
    nodes = torch.tensor([3, 17, 250])
    assert receptive_field(nodes, edge_index, 300, block_extra_hops(encoder)).nodes.numel() < 150
    with torch.no_grad():
        full = encoder(x, edge_index)[nodes]
        batch = batch_forward(encoder, x.to_sparse_csr(), edge_index, nodes)
    torch.testing.assert_close(batch, full, rtol=1e-4, atol=1e-5)


def test_sparse_linear_matches_dense_forward_and_weight_gradient():
    x = bag_of_words(n=50)
    weight, bias = torch.randn(7, 12, requires_grad=True), torch.randn(7, requires_grad=True)
    grads = []
    for features in (x, x.to_sparse_csr()):
        weight.grad = bias.grad = None
        out = linear(features, weight, bias)
        (out * torch.arange(7.0)).sum().backward()
        grads.append((out.detach(), weight.grad.clone(), bias.grad.clone()))
    for sparse, dense in zip(grads[1], grads[0]):
        torch.testing.assert_close(sparse, dense, rtol=1e-5, atol=1e-5)


def test_accept_sparse_input_keeps_the_module_and_its_parameters():
    from torch_geometric.nn import GATConv

    torch.manual_seed(0)
    conv = GATConv(12, 4, heads=2)
    lin, weight = conv.lin, conv.lin.weight.detach().clone()
    accept_sparse_input(conv.lin)
    assert conv.lin is lin and torch.equal(conv.lin.weight, weight)
    assert list(conv.state_dict()) == list(GATConv(12, 4, heads=2).state_dict())
    x = bag_of_words()
    torch.testing.assert_close(conv.lin(x.to_sparse_csr()), conv.lin(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(TypeError):
        accept_sparse_input(nn.Linear(3, 3))
