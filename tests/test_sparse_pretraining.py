"""GRACE, MaskGAE and GraphMAE pretrain on bag-of-words features as CSR (GraphMAE's masked input as a
sparse matrix plus its [MASK] token's rows): the same losses, embeddings and gradients as from the
dense features, and their pretraining loops do hand the encoder CSR features."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch_geometric.data import Data
from test_sparse_features import bag_of_words, graph

from registry import RunContext
from slide_plugin.nn import GATBlock, GCNBlock
from slide_plugin.nn.sparse import TokenRows, feature_dropout, linear
from slide_plugin.pretrainers.graphmae import GraphMAE, GraphMAEOptions
from slide_plugin.pretrainers.graphmae_model import GraphMAEModel
from slide_plugin.pretrainers.grace import GRACE, GRACEOptions
from slide_plugin.pretrainers.grace_model import GRACEModel, drop_feature
from slide_plugin.pretrainers.maskgae import MaskGAE, MaskGAEOptions
from slide_plugin.pretrainers.maskgae_model import MaskGAEModel, build_encoder


def loss_and_grads(model: torch.nn.Module, loss) -> list[torch.Tensor]:
    model.zero_grad()
    value = loss()
    value.backward()
    return [value.detach()] + [p.grad.clone() for p in model.parameters() if p.grad is not None]


def assert_all_close(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    assert len(a) == len(b) and len(a) > 2
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-6)


def test_drop_feature_is_the_same_on_csr():
    x = bag_of_words(density=0.2)
    torch.manual_seed(4)
    dense = drop_feature(x, 0.4)
    torch.manual_seed(4)
    sparse = drop_feature(x.to_sparse_csr(), 0.4)
    assert sparse.layout == torch.sparse_csr and torch.equal(sparse.to_dense(), dense)


def test_grace_loss_and_gradients_equal_from_csr():
    x, edge_index = bag_of_words(), graph()
    torch.manual_seed(0)
    model = GRACEModel(x.size(1), GRACEOptions(num_hidden=8, num_proj_hidden=8, activation="prelu"))
    results = []
    for features in (x, x.to_sparse_csr()):
        torch.manual_seed(1)
        results.append(loss_and_grads(model, lambda: model.loss(features, edge_index)))
    assert_all_close(*results)


def test_maskgae_code_and_gradients_equal_from_csr():
    x, edge_index = bag_of_words(), graph()
    torch.manual_seed(0)
    o = MaskGAEOptions(encoder_channels=8, hidden_channels=4, encoder_dropout=0.0)  # no BatchNorm: its bias
    # gradients are zero up to rounding, which no relative tolerance compares
    model = MaskGAEModel(build_encoder(x.size(1), o), o).train()
    results = []
    for features in (x, x.to_sparse_csr()):
        results.append(loss_and_grads(model, lambda: model.code(features, edge_index).square().sum()))
    assert_all_close(*results)


@pytest.mark.parametrize("pretrainer,options", [
    (GRACE(), GRACEOptions(num_hidden=8, num_proj_hidden=8, epochs=1)),
    (MaskGAE(), MaskGAEOptions(encoder_channels=8, hidden_channels=4, epochs=1, eval_period=1)),
])
def test_pretraining_reads_bag_of_words_as_csr(pretrainer, options, monkeypatch):
    layouts = []
    forward = GCNBlock.forward

    def spy(self, x, edge_index, rows=None):
        layouts.append(x.layout)
        return forward(self, x, edge_index, rows)

    monkeypatch.setattr(GCNBlock, "forward", spy)
    data = Data(x=bag_of_words(features=200, density=0.01), edge_index=graph(), num_nodes=300)
    data = pretrainer.prepare(data, dataclasses.replace(options))
    pretrainer.pretrain(data, options, RunContext(torch.device("cpu")))
    assert torch.sparse_csr in layouts  # the first block of every forward reads CSR
    assert all(layout == torch.strided for layout in layouts[1::2])  # the second reads the first's dense output


@pytest.mark.parametrize("replace_rate, drop_edge_rate", [(0.0, 0.0), (0.2, 0.3)])
def test_graphmae_loss_and_gradients_equal_from_csr(replace_rate, drop_edge_rate):
    """Token rows, noise rows (another node's features), attention dropout and edge dropout draw the
    same; the [MASK] token and every weight get the dense path's gradients."""
    x, edge_index = bag_of_words(), graph()
    torch.manual_seed(0)
    o = GraphMAEOptions(num_hidden=8, num_heads=2, in_drop=0.0, attn_drop=0.2, replace_rate=replace_rate,
                        drop_edge_rate=drop_edge_rate)
    model = GraphMAEModel(x.size(1), o).train()
    with torch.no_grad():
        model.mask_token.normal_()  # a non-zero token, so that a lost token term shows
    results = []
    for features in (x, x.to_sparse_csr()):
        torch.manual_seed(1)
        results.append(loss_and_grads(model, lambda: model.loss(features, edge_index)))
    assert_all_close(*results)
    assert model.mask_token.grad.abs().sum() > 0


def test_token_rows_dropout_and_projection_equal_dense():
    """Feature dropout of a masked input keeps or scales every entry, the token's rows drawing their
    own; the projection equals the dense product of the input this draw made."""
    x = bag_of_words()
    rows, token = torch.tensor([3, 7, 8]), torch.randn(1, x.size(1))
    sparse = x.clone()
    sparse[rows] = 0.0
    dense = sparse.clone()
    dense[rows] += token
    masked = feature_dropout(TokenRows(sparse.to_sparse_csr(), rows, token), torch.nn.Dropout(0.5))
    made = masked.x.to_dense()
    made[rows] = masked.token
    assert torch.all((made == 0) | torch.isclose(made, 2 * dense))
    assert (made[rows] == 0).any() and (made[rows] != 0).any()
    weight = torch.randn(5, x.size(1))
    torch.testing.assert_close(linear(masked, weight), made @ weight.t())


def test_graphmae_pretraining_reads_bag_of_words_as_csr(monkeypatch):
    inputs = []
    forward = GATBlock.forward

    def spy(self, x, edge_index, rows=None):
        inputs.append(x)
        return forward(self, x, edge_index, rows)

    monkeypatch.setattr(GATBlock, "forward", spy)
    options = GraphMAEOptions(num_hidden=8, num_heads=2, epochs=2)
    data = Data(x=bag_of_words(features=200, density=0.01), edge_index=graph(), num_nodes=300)
    data = GraphMAE().prepare(data, options)
    encoder = GraphMAE().pretrain(data, options, RunContext(torch.device("cpu")))
    assert [type(x) for x in inputs[::3]] == [TokenRows, TokenRows]  # every step's first block: sparse + token
    assert all(x.layout == torch.strided for x in inputs[1::3] + inputs[2::3])  # then dense hidden features
    assert torch.isfinite(encoder(data.x, data.edge_index)).all()
