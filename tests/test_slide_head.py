"""SLIDE head: exact receptive-field batches, the training loop, the ablation switch, official settings."""

import pytest
import torch
from torch import nn
from torch_geometric.data import Data
from torch_geometric.nn import GCNConv
from torch_geometric.utils import k_hop_subgraph, to_undirected

from registry import RunContext
from registry.config import resolve_options
from slide_plugin.heads.slide import SlideHead, SlideOptions
from slide_plugin.heads.training import batch_forward, receptive_hops
from slide_plugin.nn import GATBlock, GCNBlock, StackEncoder


def tiny_graph(n: int = 80, features: int = 12, classes: int = 3, seed: int = 0) -> Data:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    x = torch.randn(n, features, generator=g) + 1.5 * nn.functional.one_hot(y, features).float()
    edge_index = to_undirected(torch.randint(0, n, (2, 2 * n), generator=g), num_nodes=n)
    masks = torch.zeros(3, n, dtype=torch.bool)
    masks[0, :24], masks[1, 24:50], masks[2, 50:] = True, True, True
    return Data(x=x, edge_index=edge_index, y=y, train_mask=masks[0], val_mask=masks[1], test_mask=masks[2],
                num_classes=classes)


def tiny_encoder(in_dim: int = 12, seed: int = 0) -> StackEncoder:
    torch.manual_seed(seed)
    return StackEncoder([GATBlock(in_dim, 8, heads=2, feat_drop=0.2, attn_drop=0.1, activation="prelu"),
                         GATBlock(16, 4, heads=2, feat_drop=0.2, attn_drop=0.1)])


class GCNStack(nn.Module):
    """A plain GCN encoder with ``blocks``: its degree normalisation needs the extra hop."""

    def __init__(self, in_dim: int):
        super().__init__()
        self.blocks = nn.ModuleList([GCNConv(in_dim, 16), GCNConv(16, 8)])

    def forward(self, x, edge_index):
        for block in self.blocks:
            x = block(x, edge_index).relu()
        return x


def gcn_block_encoder(norm: str | None = None) -> StackEncoder:
    torch.manual_seed(0)
    return StackEncoder([GCNBlock(12, 16, norm=norm, activation="relu"), GCNBlock(16, 8, norm=norm)])


def test_receptive_hops_per_block_type():
    assert receptive_hops(tiny_encoder()) == 2  # attention over in-edges: one hop per layer
    assert receptive_hops(gcn_block_encoder()) == 3  # degree normalisation: one hop more
    assert receptive_hops(GCNStack(12)) == 3  # blocks that do not say: the safe extra hop
    assert receptive_hops(nn.Linear(3, 3)) is None


@pytest.mark.parametrize("make", [tiny_encoder, gcn_block_encoder, lambda: GCNStack(12)])
def test_batch_embeddings_equal_full_graph_rows(make):
    data, encoder = tiny_graph(n=400), make()
    encoder.eval()
    nodes = torch.tensor([3, 17, 250])
    subset = k_hop_subgraph(nodes, receptive_hops(encoder), data.edge_index, num_nodes=400)[0]
    assert subset.numel() < 400  # the subgraph path is taken, not the full graph
    with torch.no_grad():
        full = encoder(data.x, data.edge_index)[nodes]
        batch = batch_forward(encoder, data.x, data.edge_index, nodes, receptive_hops(encoder), max_fraction=1.0)
    torch.testing.assert_close(batch, full, rtol=1e-5, atol=1e-6)


def test_batch_norm_in_training_mode_sees_the_full_graph():
    """Batch statistics over a subgraph are not the full graph's: such encoders take the full-graph path."""
    data, encoder = tiny_graph(n=400), gcn_block_encoder("batchnorm").train()
    nodes = torch.tensor([3, 17, 250])
    full = encoder(data.x, data.edge_index)[nodes]
    batch = batch_forward(encoder, data.x, data.edge_index, nodes, receptive_hops(encoder), max_fraction=1.0)
    torch.testing.assert_close(batch, full, rtol=1e-5, atol=1e-6)


def test_one_hop_too_few_breaks_gcn_exactness():
    data, encoder = tiny_graph(n=400), GCNStack(12).eval()
    nodes = torch.tensor([3, 17, 250])
    with torch.no_grad():
        full = encoder(data.x, data.edge_index)[nodes]
        short = batch_forward(encoder, data.x, data.edge_index, nodes, 2, max_fraction=1.0)
    assert not torch.allclose(short, full, atol=1e-6)


def fit(**changes):
    torch.manual_seed(0)
    options = SlideOptions(**(dict(epochs=3, batch_size=8, memory_size=8, epochb=4, encoder_lr=1e-3) | changes))
    ctx = RunContext(torch.device("cpu"), seed=0)
    encoder = tiny_encoder()
    return SlideHead().fit(encoder, tiny_graph(), options, ctx), ctx, encoder


def test_fit_reports_and_logs_weight_diagnostics():
    result, ctx, encoder = fit()
    for key in ("test_micro_f1", "test_macro_f1", "val_micro_f1", "trainable_params", "total_params", "epoch_time_s",
                "peak_memory_mb"):
        assert key in result
    assert result["trainable_params"] == result["total_params"] == sum(p.numel() for p in encoder.parameters()) + 8 * 3 + 3
    assert result["steps"] == 3 * 3  # 24 training nodes in batches of 8
    assert [d["epoch"] for d in ctx.diagnostics] == [1, 2]  # no re-weighting in the first epoch
    for d in ctx.diagnostics:
        assert 0 <= d["weight_min"] <= 1 <= d["weight_max"] and 0 < d["ess_ratio"] <= 1 and d["batches"] == 3
    assert not any("pre_" in k or "memory" in k for k in encoder.state_dict())  # memory is not in the model


def test_without_decorrelation_is_plain_minibatch_finetuning():
    plain, ctx, _ = fit(decorrelation=False)
    assert ctx.diagnostics == []
    first_epoch_plain, _, _ = fit(decorrelation=False, epochs=1)
    first_epoch_slide, _, _ = fit(decorrelation=True, epochs=1)
    for key in ("val_micro_f1", "test_micro_f1", "test_macro_f1"):
        assert first_epoch_plain[key] == first_epoch_slide[key]
    reweighted, _, _ = fit(decorrelation=True, lambda0=1e-4, epochs=3)
    assert (reweighted["val_micro_f1"], reweighted["test_macro_f1"]) != (plain["val_micro_f1"], plain["test_macro_f1"])


def test_official_settings_and_validation():
    head = SlideHead()
    cora = resolve_options(head, "Cora", "graphmae", "official", {})
    assert (cora.batch_size, cora.memory_size, cora.epochs, cora.lambda0, cora.encoder_lr) == (16, 16, 50, 0.5, 1e-7)
    assert resolve_options(head, "Cora", "maskgae", "official", {}).encoder_train_mode is False
    assert head.default_slimmer == "2-half"
    with pytest.raises(ValueError):
        SlideOptions(batch_size=0)
    with pytest.raises(ValueError):
        SlideOptions(presave_ratio=1.5)
