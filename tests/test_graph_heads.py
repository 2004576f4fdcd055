"""Graph-classification heads and GraphMAE's graph pretrainer on a tiny synthetic graph set (no dataset files):
metrics of the task, SLIDE's re-weighting of graph embeddings per mini-batch, and the GIN encoder's pooling."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch_geometric.data import Data

from registry import RunContext
from registry.graphs import GraphSet, graph_embeddings
from slide_plugin.heads.graph import GraphFineTune, GraphFineTuneOptions, GraphSlide, GraphSlideOptions, SvmHead, SvmOptions
from slide_plugin.pretrainers.graphmae_graph import GraphMAEGraph, GraphMAEGraphOptions
from slide_plugin.pretrainers.graphmae_graph_model import pretrain, with_self_loops

TASK_METRICS = ("test_accuracy", "test_accuracy_std", "val_accuracy", "trainable_params", "total_params")


def toy_graphs(n: int = 60) -> GraphSet:
    """Rings of 4-9 nodes with 5 one-hot features; class 1 graphs use feature 4 on half their nodes."""
    g = torch.Generator().manual_seed(0)
    graphs = []
    for i in range(n):
        size, label = int(torch.randint(4, 10, (1,), generator=g)), i % 2
        feature = torch.randint(0, 4, (size,), generator=g)
        if label:
            feature[::2] = 4
        ring = torch.arange(size)
        edges = torch.stack([torch.cat([ring, (ring + 1) % size]), torch.cat([(ring + 1) % size, ring])])
        graphs.append(Data(x=torch.nn.functional.one_hot(feature, 5).float(), edge_index=edges, y=torch.tensor([label])))
    return GraphSet(graphs, 2, "toy")


@pytest.fixture(scope="module")
def encoder_and_data():
    torch.manual_seed(0)
    data = GraphMAEGraph().prepare(toy_graphs(), None)
    options = GraphMAEGraphOptions(num_hidden=16, num_layers=3, epochs=3, batch_size=16, pooling="sum")
    return pretrain(data, options, RunContext(torch.device("cpu"))), data


def test_self_loops_once_per_node():
    data = toy_graphs(4)
    data[0].edge_index = torch.cat([data[0].edge_index, torch.tensor([[0], [0]])], dim=1)  # one already there
    looped = with_self_loops(data)
    for before, after in zip(data, looped):
        loops = after.edge_index[0] == after.edge_index[1]
        assert int(loops.sum()) == before.num_nodes and after.edge_index[:, loops][0].unique().numel() == before.num_nodes
        assert int((~loops).sum()) == int((before.edge_index[0] != before.edge_index[1]).sum())
    assert looped.num_classes == 2 and looped.name == "toy"


def test_sum_pooled_embeddings_are_sums_of_node_embeddings(encoder_and_data):
    encoder, data = encoder_and_data
    z = graph_embeddings(encoder, data, torch.device("cpu"), batch_size=7)
    assert z.shape == (len(data), encoder.embedding_dim)
    with torch.no_grad():
        torch.testing.assert_close(z[5], encoder(data[5].x, data[5].edge_index).sum(0))


def test_svm_head_reports_the_task_metrics(encoder_and_data):
    encoder, data = encoder_and_data
    ctx = RunContext(torch.device("cpu"))
    metrics = SvmHead().fit(encoder, data, SvmOptions(folds=5), ctx)
    assert set(TASK_METRICS) <= set(metrics) and all(math.isfinite(v) for v in metrics.values())
    assert 0 <= metrics["test_accuracy"] <= 100 and metrics["trainable_params"] == 0
    assert len(ctx.diagnostics[0]["fold_accuracies"]) == 5


@pytest.mark.parametrize("decorrelation", [True, False])
def test_graph_slide_reweights_graph_embeddings_per_batch(encoder_and_data, decorrelation):
    encoder, data = encoder_and_data
    ctx = RunContext(torch.device("cpu"))
    options = GraphSlideOptions(folds=3, epochs=3, batch_size=16, epochb=5, decorrelation=decorrelation)
    metrics = GraphSlide().fit(encoder, data, options, ctx)
    assert set(TASK_METRICS) <= set(metrics) and all(math.isfinite(v) for v in metrics.values())
    if decorrelation:  # logged from the second epoch of every fold: weights that differ from uniform
        assert len(ctx.diagnostics) == 3 * 2
        assert all(d["weight_max"] > d["weight_min"] and d["batches"] == 2 for d in ctx.diagnostics)  # 20 training graphs
        assert all(0 <= d["class_shift"] < 1 for d in ctx.diagnostics)
    else:
        assert ctx.diagnostics == []


def test_graph_full_fine_tuning_trains_the_encoder_and_leaves_its_input_alone(encoder_and_data):
    encoder, data = encoder_and_data
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    metrics = GraphFineTune().fit(encoder, data, GraphFineTuneOptions(folds=3, epochs=2, batch_size=16),
                                  RunContext(torch.device("cpu")))
    assert metrics["trainable_params"] == sum(p.numel() for p in encoder.parameters()) + encoder.embedding_dim * 2 + 2
    assert all(torch.equal(v, before[k]) for k, v in encoder.state_dict().items())  # each fold trains a copy


@pytest.mark.parametrize("reweight", [False, True])
def test_graph_fine_tuning_selects_its_epoch_without_the_test_labels(encoder_and_data, reweight):
    """Flipping the test graphs' (binary) labels leaves the selection alone: the same validation score, and
    the test score of the same epoch read against flipped labels (100 - accuracy)."""
    from slide_plugin.heads.graph_loop import fit_fold

    encoder, data = encoder_and_data
    train, val, test = data.like(data[:36]), data.like(data[36:48]), data.like(data[48:])
    flipped = data.like(g.clone() for g in test)
    for g in flipped:
        g.y = 1 - g.y
    options = GraphSlideOptions(epochs=4, batch_size=12, epochb=3)
    runs = []
    for graphs in (test, flipped):
        torch.manual_seed(3)
        runs.append(fit_fold(copy.deepcopy(encoder), train, val, graphs, options, RunContext(torch.device("cpu")), reweight))
    (val_a, test_a, _), (val_b, test_b, _) = runs
    assert val_a == val_b and test_b == pytest.approx(100 - test_a)
