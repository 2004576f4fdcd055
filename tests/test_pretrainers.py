"""GRACE and MaskGAE on a small random graph: loss goes down, embedding shapes, same-seed determinism,
cache round-trip; GRACE's batched loss and out-of-memory path; MaskGAE's random walk and 2-X rule;
the mini-batch / eval-mode options of the heads."""

from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from registry import RunContext
from registry.cache import EncoderCache
from registry.components import DatasetSpec
from registry.config import resolve_options
from registry.metrics import count_parameters
from registry.registry import Registry
from registry.runner import Cell, Runner
from registry.seed import seed_everything
from registry.store import ResultsStore
from registry.tasks import BY_NAME, NODE
from slide_plugin import slimming
from slide_plugin.heads.full import FullFineTune
from slide_plugin.heads.linear import LinearProbe
from slide_plugin.pretrainers.edge_masking import mask_path, random_walk
from slide_plugin.pretrainers.grace import GRACE, GRACEOptions
from slide_plugin.pretrainers.grace_model import GRACEModel, semi_loss, symmetric_loss
from slide_plugin.pretrainers.graphmae import GraphMAE
from slide_plugin.pretrainers.maskgae import MaskGAE
from slide_plugin.pretrainers.maskgae_model import build_encoder

CPU = torch.device("cpu")
torch.set_num_threads(1)  # tiny graphs: extra threads only contend on the shared CI cores


def tiny_graph(n: int = 60, features: int = 16, classes: int = 3, seed: int = 0) -> Data:
    """Clustered random graph: features and edges depend on the class, so there is signal to learn."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = (torch.rand(n, features, generator=g) < 0.15).float()
    x[torch.arange(n), y * 3] = 1.0  # a class-indicative feature
    src = torch.randint(0, n, (4 * n,), generator=g)
    dst = torch.randint(0, n, (4 * n,), generator=g)
    same = (y[src] == y[dst]) | (torch.rand(4 * n, generator=g) < 0.2)
    edge_index = to_undirected(torch.stack([src[same], dst[same]]), num_nodes=n)
    masks = [torch.zeros(n, dtype=torch.bool) for _ in range(3)]
    masks[0][: n // 3], masks[1][n // 3: 2 * n // 3], masks[2][2 * n // 3:] = True, True, True
    return Data(x=x, edge_index=edge_index, y=y, train_mask=masks[0], val_mask=masks[1], test_mask=masks[2],
                num_classes=classes, num_nodes=n)


SMALL = {
    "grace": dict(num_hidden=16, num_proj_hidden=16, epochs=40, lr=0.01, tau=0.5, drop_edge_1=0.1, drop_edge_2=0.1,
                  drop_feature_1=0.1, drop_feature_2=0.1),
    "maskgae": dict(encoder_channels=16, hidden_channels=8, decoder_channels=8, bn=True, epochs=60, eval_period=5,
                    lr=0.01, alpha=0.003, encoder_dropout=0.2),
}
PRETRAINERS = {"grace": GRACE(), "maskgae": MaskGAE()}


def pretrain(name: str, data: Data, seed: int = 0, **changes) -> tuple[torch.nn.Module, RunContext]:
    component = PRETRAINERS[name]
    options = component.Options(**(SMALL[name] | changes))
    data = component.prepare(data, options)
    seed_everything(seed)
    ctx = RunContext(CPU, seed)
    return component.pretrain(data, options, ctx), ctx


@pytest.mark.parametrize("name", ["grace", "maskgae"])
def test_loss_goes_down_and_shape(name):
    data = tiny_graph()
    encoder, ctx = pretrain(name, data)
    losses = [d["loss"] for d in ctx.diagnostics if d.get("stage") == "pretrain"]
    assert len(losses) == SMALL[name]["epochs"]
    assert sum(losses[-5:]) / 5 < 0.9 * sum(losses[:5]) / 5
    z = encoder(data.x, data.edge_index)
    expected = 16 if name == "grace" else 16 + 8  # GRACE: d; MaskGAE: concatenation of both layers
    assert z.shape == (data.num_nodes, expected) == (data.num_nodes, encoder.embedding_dim)
    assert torch.isfinite(z).all()


@pytest.mark.parametrize("name", ["grace", "maskgae"])
def test_same_seed_same_embeddings(name):
    data = tiny_graph()
    first, _ = pretrain(name, data, seed=3, epochs=8)
    second, _ = pretrain(name, data, seed=3, epochs=8)
    other, _ = pretrain(name, data, seed=4, epochs=8)
    with torch.no_grad():
        a, b, c = (e(data.x, data.edge_index) for e in (first, second, other))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("name", ["grace", "maskgae"])
def test_cache_round_trip(tmp_path, name):
    component, data = PRETRAINERS[name], tiny_graph()
    changes = {"epochs": 4, "activation": "prelu"} if name == "grace" else {"epochs": 4}
    options = SMALL[name] | changes
    cache = EncoderCache(tmp_path)
    run = lambda: pretrain(name, data, seed=1, **changes)[0]
    fresh, cached = cache.get_or_pretrain("tiny", name, component.version, options, 1, component.build_encoder, run, CPU)
    loaded, was_cached = cache.get_or_pretrain("tiny", name, component.version, options, 1, component.build_encoder, run, CPU)
    assert (cached, was_cached) == (False, True)
    assert count_parameters(loaded) == count_parameters(fresh)  # GRACE's shared PReLU stays shared
    with torch.no_grad():
        assert torch.equal(fresh(data.x, data.edge_index), loaded(data.x, data.edge_index))


def test_grace_prelu_is_shared_across_layers():
    model = GRACEModel(10, GRACEOptions(num_hidden=8, activation="prelu"))
    first, second = model.encoder.blocks
    assert first.activation is second.activation
    assert count_parameters(model.encoder) == (10 * 16 + 16) + (16 * 8 + 8) + 1


def test_grace_batched_loss_equals_full_loss():
    torch.manual_seed(0)
    h1, h2 = torch.randn(50, 6, requires_grad=True), torch.randn(50, 6, requires_grad=True)
    full = semi_loss(h1, h2, 0.5).mean()
    g_full = torch.autograd.grad(full, (h1, h2))
    batched = semi_loss(h1, h2, 0.5, batch_size=7).mean()
    g_batched = torch.autograd.grad(batched, (h1, h2))
    torch.testing.assert_close(batched, full)
    for a, b in zip(g_batched, g_full):
        torch.testing.assert_close(a, b)


def test_grace_symmetric_loss_equals_both_semi_losses():
    """The full loss shares the inter-view similarities between the two directions: same values, same gradients."""
    torch.manual_seed(2)
    h1, h2 = torch.randn(40, 6, requires_grad=True), torch.randn(40, 6, requires_grad=True)
    both = symmetric_loss(h1, h2, 0.6)
    separate = semi_loss(h1, h2, 0.6) + semi_loss(h2, h1, 0.6)
    torch.testing.assert_close(both, separate)
    for a, b in zip(torch.autograd.grad(both.mean(), (h1, h2)), torch.autograd.grad(separate.mean(), (h1, h2))):
        torch.testing.assert_close(a, b)


def test_grace_loss_matches_definition():
    """Symmetric InfoNCE, computed naively: positive = same node in the other view; negatives = every other
    node in both views."""
    torch.manual_seed(1)
    h1, h2, tau = torch.randn(5, 3), torch.randn(5, 3), 0.7
    n1, n2 = torch.nn.functional.normalize(h1, dim=1), torch.nn.functional.normalize(h2, dim=1)
    expected = []
    for i in range(5):
        pos = math.exp(float(n1[i] @ n2[i]) / tau)
        neg = sum(math.exp(float(n1[i] @ n1[j]) / tau) for j in range(5) if j != i)
        neg += sum(math.exp(float(n1[i] @ n2[j]) / tau) for j in range(5))
        expected.append(-math.log(pos / neg))
    torch.testing.assert_close(semi_loss(h1, h2, tau), torch.tensor(expected))


def test_grace_out_of_memory_is_recorded_as_oom(tmp_path):
    registry = Registry()
    registry.add("task", BY_NAME[NODE], "test")
    registry.add("dataset", DatasetSpec("tiny", lambda root, split_seed=0: tiny_graph()), "test")
    registry.add("pretrainer", GRACE(), "test")
    registry.add("head", LinearProbe(), "test")
    for slimmer in slimming.BUILTIN:
        registry.add("slimmer", slimmer, "test")
    store = ResultsStore(tmp_path / "r.sqlite")
    runner = Runner(registry, store, EncoderCache(tmp_path / "cache"), CPU, tmp_path, quiet=True)
    runner.run([Cell("tiny", "grace", preset="quick", sets=(("pretrain", "similarity_memory_gb", 1e-6),))])
    frame = store.frame()
    assert list(frame["status"]) == ["oom"]
    assert "similarity" in frame["error"][0]


def test_random_walk_follows_edges_and_is_uniform():
    # star: node 0 → 1..4; node 5 isolated
    row = torch.tensor([0, 0, 0, 0, 1, 2, 3, 4])
    col = torch.tensor([1, 2, 3, 4, 0, 0, 0, 0])
    rowptr = torch.tensor([0, 4, 5, 6, 7, 8, 8])
    torch.manual_seed(0)
    nodes, edges = random_walk(rowptr, col, torch.tensor([0] * 4000 + [5]), walk_length=3)
    walked = edges[:-1]
    assert torch.equal(row[walked], nodes[:-1, :-1]) and torch.equal(col[walked], nodes[:-1, 1:])
    assert torch.equal(edges[-1], torch.tensor([-1, -1, -1])) and torch.equal(nodes[-1], torch.full((4,), 5))
    counts = torch.bincount(nodes[:-1, 1], minlength=5)[1:].float()
    assert counts.sum() == 4000 and (counts - 1000).abs().max() < 120  # ~4 standard deviations


def test_mask_path_splits_the_edges():
    data = tiny_graph()
    torch.manual_seed(0)
    remaining, masked = mask_path(data.edge_index, data.num_nodes, p=0.7, walk_length=3)
    edges = {tuple(e) for e in data.edge_index.t().tolist()}
    assert masked.size(1) > 0 and {tuple(e) for e in masked.t().tolist()} <= edges
    assert {tuple(e) for e in remaining.t().tolist()} <= edges
    fully_masked = {(u, v) for u, v in masked.t().tolist() if (v, u) in {tuple(e) for e in masked.t().tolist()}}
    assert not fully_masked & {tuple(e) for e in remaining.t().tolist()}


def _change(original, slim):
    return round(100 * (count_parameters(slim) - count_parameters(original)) / count_parameters(original), 1)


# paper.md §2.6 (MaskGAE) and §2.2 (GRACE): Change-Param of Half, Quarter, 2-Original, 2-Half, 2-Quarter.
MASKGAE_GRID = {"Cora": (1433, 192_192, [-51.1, -75.8, 0.0, -2.2, -3.3]),
                "CiteSeer": (3703, 482_752, [-50.4, -75.3, 0.0, -0.9, -1.3]),
                "Computers": (767, 132_096, [-56.2, -79.7, -12.7, -12.7, -19.0]),
                "ogbn-arxiv": (128, 298_752, [-71.9, -91.5, -66.6, -66.6, -77.7])}
GRACE_GRID = {"Cora": (1433, 400_000, [-52.0, -76.5, 0.0, -4.1, -6.2]),
              "CiteSeer": (3703, 2_027_777, [-51.6, -76.2, 0.0, -3.2, -4.9])}
VARIANTS = ["half", "quarter", "2-original", "2-half", "2-quarter"]


@pytest.mark.parametrize("name,grid", [("maskgae", MASKGAE_GRID), ("grace", GRACE_GRID)])
def test_param_change_grid(name, grid):
    component = PRETRAINERS[name]
    slimmers = {s.name: s for s in slimming.BUILTIN}
    for dataset, (features, total, changes) in grid.items():
        options = resolve_options(component, dataset, name)
        if name == "maskgae":
            encoder = build_encoder(features, options)
        else:
            encoder = GRACEModel(features, options).encoder
        assert count_parameters(encoder) == total, dataset
        got = [_change(encoder, slimmers[v].slim(encoder, slimmers[v].Options(), 0)) for v in VARIANTS]
        assert got == changes, dataset


def test_linear_probe_mini_batches():
    data, head = tiny_graph(), LinearProbe()
    encoder, _ = pretrain("grace", data, epochs=2)
    seed_everything(0)
    result = head.fit(encoder, data, head.Options(epochs=3, batch_size=7), RunContext(CPU))
    assert result["steps"] == 3 * math.ceil(int(data.train_mask.sum()) / 7)
    assert result["samples_seen"] == 3 * int(data.train_mask.sum())


@pytest.mark.parametrize("train_mode", [True, False])
def test_full_fine_tune_encoder_mode(train_mode):
    data, head = tiny_graph(), FullFineTune()
    encoder, _ = pretrain("maskgae", data, epochs=2)
    before = encoder.blocks[0].norm.running_mean.clone()
    seed_everything(0)
    options = head.Options(epochs=2, batch_size=8, encoder_lr=0.01, encoder_train_mode=train_mode)
    result = head.fit(encoder, data, options, RunContext(CPU))
    assert result["steps"] == 2 * math.ceil(int(data.train_mask.sum()) / 8)
    moved = not torch.equal(before, encoder.blocks[0].norm.running_mean)
    assert moved == train_mode  # eval mode: BatchNorm keeps its running statistics


@pytest.mark.parametrize("name", ["graphmae", "grace", "maskgae"])
def test_every_slimmer_and_head_runs(name):
    data = tiny_graph()
    component = {"graphmae": GraphMAE(), **PRETRAINERS}[name]
    options = resolve_options(component, "tiny", name, "quick")
    data = component.prepare(data, options)
    seed_everything(0)
    encoder = component.pretrain(data, options, RunContext(CPU))
    for slimmer in slimming.BUILTIN:
        slim_options = slimmer.Options() if slimmer.name != "custom" else slimmer.Options(ratios=[0.5, 0.25])
        slim = slimmer.slim(encoder, slim_options, 0)
        for head in (LinearProbe(), FullFineTune()):
            result = head.fit(slim, data, head.Options(epochs=2), RunContext(CPU))
            assert 0 <= result["test_micro_f1"] <= 100, (name, slimmer.name, head.name)
