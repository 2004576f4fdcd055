"""SLIDE head: exact receptive-field batches, the training loop, the ablation switch, official settings."""

import pytest
import torch
from torch import nn
from torch_geometric.data import Data
from torch_geometric.nn import GCNConv
from torch_geometric.utils import to_undirected

from registry import RunContext
from registry.config import resolve_options
from registry.errors import ConfigError
from slide_plugin.heads.slide import SlideHead, SlideKeepingClassMass, SlideOptions
from slide_plugin.decorrelation import SampleReweighter, class_shift, keep_class_mass
from registry.heads import batch_forward
from slide_plugin.nn import GATBlock, GCNBlock, StackEncoder
from registry.receptive import layer_radii, receptive_field


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


def block_extra_hops(encoder: nn.Module) -> list[int]:
    return [getattr(block, "extra_hops", 1) for block in encoder.blocks]


def test_layer_radii_per_block_type():
    """Attention reads its in-edges only; GCN also its neighbours' degrees; bare convs count as GCN."""
    assert block_extra_hops(tiny_encoder()) == [0, 0]
    assert block_extra_hops(gcn_block_encoder()) == [1, 1]
    assert block_extra_hops(GCNStack(12)) == [1, 1]
    assert layer_radii([0, 0]) == ([1, 0], [1, 0], 2)  # edges into the 1-hop ring, then into the batch
    assert layer_radii([1, 1]) == ([2, 1], [2, 0], 3)
    assert layer_radii([0, 0, 0]) == ([2, 1, 0], [2, 1, 0], 3)
    assert layer_radii([0, 1]) == ([1, 1], [2, 0], 2)  # the GCN layer needs rows two hops out


def test_receptive_field_orders_nodes_by_distance():
    path = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 4], [1, 0, 2, 1, 3, 2, 4, 3]])  # 0 - 1 - 2 - 3 - 4
    field = receptive_field(torch.tensor([2]), path, 5, [0, 0])
    assert field.nodes[0] == 2 and set(field.nodes[1:3].tolist()) == {1, 3} and set(field.nodes[3:].tolist()) == {0, 4}
    assert field.layer_rows == [3, 1]
    local_targets = [field.nodes[edges[1]].unique().tolist() for edges in field.layer_edges]
    assert local_targets == [[1, 2, 3], [2]]
    with pytest.raises(ValueError, match="repeated"):
        receptive_field(torch.tensor([2, 2]), path, 5, [0, 0])


@pytest.mark.parametrize("make", [tiny_encoder, gcn_block_encoder, lambda: GCNStack(12),
                                  lambda: StackEncoder(tiny_encoder().blocks, readout="cat", l2_normalize=True),
                                  lambda: StackEncoder([GATBlock(12, 8, heads=2), GCNBlock(16, 8, norm="layernorm")])])
def test_batch_embeddings_equal_full_graph_rows(make):
    data, encoder = tiny_graph(n=400), make()
    encoder.eval()
    nodes = torch.tensor([3, 17, 250])
    field = receptive_field(nodes, data.edge_index, 400, block_extra_hops(encoder))
    assert field.nodes.numel() < 400  # the batch's field is smaller than the graph
    assert field.layer_edges[-1].size(1) <= field.layer_edges[0].size(1) < data.edge_index.size(1)
    with torch.no_grad():
        full = encoder(data.x, data.edge_index)[nodes]
        batch = batch_forward(encoder, data.x, data.edge_index, nodes)
    torch.testing.assert_close(batch, full, rtol=1e-5, atol=1e-6)


def test_batch_gradients_equal_full_graph_gradients():
    """Training on the layer-wise field gives the full graph's gradients (dropout off)."""
    data, grads = tiny_graph(n=400), []
    nodes = torch.tensor([3, 17, 250, 31])
    for forward in (lambda e: e(data.x, data.edge_index)[nodes], lambda e: batch_forward(e, data.x, data.edge_index, nodes)):
        encoder = StackEncoder([GATBlock(12, 8, heads=2, activation="prelu", norm="layernorm"), GATBlock(16, 4, heads=2)])
        encoder.load_state_dict(tiny_state)
        forward(encoder).pow(2).sum().backward()
        grads.append([p.grad for p in encoder.parameters()])
    for batch_grad, full_grad in zip(*grads):
        torch.testing.assert_close(batch_grad, full_grad, rtol=1e-4, atol=1e-6)


torch.manual_seed(0)
tiny_state = StackEncoder([GATBlock(12, 8, heads=2, activation="prelu", norm="layernorm"),
                           GATBlock(16, 4, heads=2)]).state_dict()


def test_batch_norm_in_training_mode_sees_the_full_graph():
    """Batch statistics over a subgraph are not the full graph's: such encoders take the full-graph path."""
    data, encoder = tiny_graph(n=400), gcn_block_encoder("batchnorm").train()
    nodes = torch.tensor([3, 17, 250])
    full = encoder(data.x, data.edge_index)[nodes]
    batch = batch_forward(encoder, data.x, data.edge_index, nodes)
    torch.testing.assert_close(batch, full, rtol=1e-5, atol=1e-6)


def test_too_narrow_a_field_breaks_gcn_exactness():
    """Without its extra hop a GCN layer reads wrong degrees: the radii matter."""
    data, encoder = tiny_graph(n=400), gcn_block_encoder().eval()
    nodes = torch.tensor([3, 17, 250])
    narrow = receptive_field(nodes, data.edge_index, 400, [0, 0])
    with torch.no_grad():
        full = encoder(data.x, data.edge_index)[nodes]
        short = encoder.forward_field(data.x[narrow.nodes], narrow)
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
        assert 0 < d["class_shift"] < 1  # non-uniform weights move some label mass between the 3 classes
    assert not any("pre_" in k or "memory" in k for k in encoder.state_dict())  # memory is not in the model


def test_without_decorrelation_is_plain_minibatch_finetuning():
    _, plain_ctx, plain_encoder = fit(decorrelation=False)
    assert plain_ctx.diagnostics == []
    first_epoch_plain, _, _ = fit(decorrelation=False, epochs=1)
    first_epoch_slide, _, _ = fit(decorrelation=True, epochs=1)
    for key in ("val_micro_f1", "test_micro_f1", "test_macro_f1"):
        assert first_epoch_plain[key] == first_epoch_slide[key]
    _, ctx, reweighted_encoder = fit(decorrelation=True, lambda0=1e-4, epochs=3)
    assert max(d["weight_max"] for d in ctx.diagnostics) > 2  # the weights moved ...
    moved = max(float((a - b).abs().max()) for a, b in zip(plain_encoder.state_dict().values(),
                                                           reweighted_encoder.state_dict().values()))
    assert moved > 1e-4  # ... and changed what the encoder learned


def test_official_settings_and_validation():
    head = SlideHead()
    cora = resolve_options(head, "Cora", "graphmae", "official", {})
    assert (cora.batch_size, cora.memory_size, cora.epochs, cora.lambda0, cora.encoder_lr) == (16, 16, 50, 0.5, 1e-7)
    assert resolve_options(head, "Cora", "maskgae", "official", {}).encoder_train_mode is False
    assert head.default_slimmer == "2-half"
    with pytest.raises(ConfigError, match="option 'batch_size' = 0 is invalid"):
        resolve_options(head, "Cora", "graphmae", sets={"batch_size": 0})
    with pytest.raises(ConfigError, match=r"option 'presave_ratio' = 1.5 is invalid \(valid: float \[0, 1\]\)"):
        resolve_options(head, "Cora", "graphmae", sets={"presave_ratio": 1.5})


def test_class_shift_is_the_label_mass_the_weights_move():
    labels = torch.tensor([0, 0, 1, 1])
    assert class_shift(torch.tensor([2.0, 1.0, 1.0, 0.0]), labels, 3).item() == pytest.approx(0.25)  # 3/4 vs 1/2
    assert class_shift(torch.tensor([3.0, 1.0, 0.5, 3.5]), labels, 3).item() == pytest.approx(0.0)  # 4/8 each
    assert class_shift(torch.ones(4), labels, 3).item() == 0.0


def test_keeping_class_mass_rescales_within_classes():
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    weights = torch.tensor([2.0, 1.0, 1.0, 0.5, 0.5, 1.0])
    kept = keep_class_mass(weights, labels, 4)  # class 3 absent from the batch
    assert kept.tolist() == pytest.approx([4 / 3, 2 / 3, 1.5, 0.75, 0.75, 1.0])  # class c weighs n_c, ratios stay
    assert class_shift(kept, labels, 4).item() == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError, match="labels"):
        SampleReweighter(4, class_mass=True)(torch.randn(6, 4), epoch=1)


def test_class_mass_head_moves_no_label_mass():
    torch.manual_seed(0)
    options = SlideOptions(epochs=3, batch_size=8, memory_size=8, epochb=4, encoder_lr=1e-3)
    ctx = RunContext(torch.device("cpu"), seed=0)
    result = SlideKeepingClassMass().fit(tiny_encoder(), tiny_graph(), options, ctx)
    assert 0 <= result["test_micro_f1"] <= 100
    for d in ctx.diagnostics:  # the weights still vary inside classes, but no class gains or loses mass
        assert d["weight_max"] > d["weight_min"] and d["class_shift"] < 1e-6
