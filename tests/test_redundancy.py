import pytest
import torch
from torch_geometric.utils import erdos_renyi_graph

from registry.cli import main
from registry.config import resolve_options
from registry.datasets import load_dataset
from registry.plugins import build_registry
from registry.store import ResultsStore
from slide_plugin.nn import GATBlock, StackEncoder
from slide_plugin.redundancy import adjacent_layers, parameter_rows, slim_vs_original


@pytest.fixture
def graph():
    torch.manual_seed(0)
    x = torch.randn(60, 10)
    return x, erdos_renyi_graph(60, 0.1)


@pytest.fixture
def encoder():
    torch.manual_seed(1)
    blocks = [GATBlock(10, 8, heads=2, activation="prelu"), GATBlock(16, 8, heads=2, activation="prelu")]
    return StackEncoder(blocks).eval()


def test_slim_vs_original_shapes_and_identity(encoder, graph):
    x, edge_index = graph
    records = slim_vs_original(encoder, x, edge_index, rates=[0.0, 0.5, 0.75], max_nodes=50)
    assert len(records) == 3 * 3 * 2  # rates × scopes (all, l1, l2) × layers
    assert {r["scope"] for r in records} == {"all", "l1", "l2"}
    for r in records:
        assert 0.0 <= r["cka"] <= 1.0 + 1e-9
        if r["rate"] == 0.0:
            assert r["cka"] == pytest.approx(1.0, abs=1e-9)
    at = {(r["scope"], r["rate"], r["layer"]): r for r in records}
    # layer 1 sees the same slim layer whether all layers or only layer 1 lose neurons
    assert at["all", 0.5, 1]["cka"] == pytest.approx(at["l1", 0.5, 1]["cka"], abs=1e-12)
    # slimming only layer 2 leaves layer 1 untouched
    assert at["l2", 0.75, 1]["cka"] == pytest.approx(1.0, abs=1e-9)
    assert at["all", 0.75, 2]["cka"] < 1.0 - 1e-6
    params = [at["all", rate, 1]["encoder_params"] for rate in (0.0, 0.5, 0.75)]
    assert params == sorted(params, reverse=True) and params[0] == sum(p.numel() for p in encoder.parameters())


def test_adjacent_layers_pairs(encoder, graph):
    x, edge_index = graph
    records = adjacent_layers(encoder, x, edge_index)
    assert [(r["source"], r["target"]) for r in records] == [(0, 1), (1, 2)]
    assert all(0.0 < r["cka"] <= 1.0 + 1e-9 for r in records)


def test_rejects_bad_rates(encoder, graph):
    with pytest.raises(Exception, match="rates"):
        slim_vs_original(encoder, *graph, rates=[1.0])


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SLIDE_BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_parameter_table_matches_paper_derived_counts_graphmae_cora(cache):
    """paper.md §2.1: GraphMAE Cora encoder 998,914 params (Linear 3,591) and the Change-Param row."""
    registry = build_registry()
    pretrainer = registry.get("pretrainer", "graphmae")
    data = load_dataset(registry.get("dataset", "Cora"))
    names = ["original", "half", "quarter", "2-original", "2-half", "2-quarter"]
    slimmers = [(s, resolve_options(s, "Cora", "graphmae")) for s in (registry.get("slimmer", n) for n in names)]
    rows = {r["slimmer"]: r for r in parameter_rows(pretrainer, resolve_options(pretrainer, "Cora", "graphmae"), data,
                                                    slimmers)}
    assert rows["original"]["gnn_params"] == 998_914
    assert rows["original"]["linear_params"] == 3_591
    assert rows["half"]["linear_params"] == 256 * 7 + 7
    expected = {"half": -56.6, "quarter": -79.9, "2-original": 0.0, "2-half": -13.2, "2-quarter": -19.8}
    assert {n: round(rows[n]["gnn_change_pct"], 1) for n in expected} == expected


def test_cli_analyze_and_plot(cache, capsys):
    store = str(cache / "results.sqlite")
    out = cache / "figures"
    common = ["--store", store, "--quiet"]
    assert main(["analyze", "cka", "--preset", "quick", "--set", "pretrain.epochs=1", "--set", "pretrain.num_hidden=8",
                 "--rates", "0", "0.5", "--seeds", "0", "1", "--max-nodes", "500", "--csv", str(cache / "cka.csv"),
                 *common]) == 0
    printed = capsys.readouterr().out
    assert "layer 1" in printed and "1.0000 ± 0.0000" in printed
    assert (cache / "cka.csv").stat().st_size > 0 and (cache / "cka_adjacent.csv").stat().st_size > 0
    records = ResultsStore(store).records("cka_slim")
    assert len(records) == 2 * 2 * 3 * 2 and set(records["seed"]) == {0, 1}
    assert main(["analyze", "params", "--datasets", "Cora", "--store", store]) == 0
    for figure in ("cka", "adjacent"):
        assert main(["plot", figure, "--preset", "quick", "--store", store, "--out", str(out)]) == 0
    assert main(["plot", "params", "--store", store, "--out", str(out)]) == 0
    for name in ("cka_slim_vs_original", "cka_adjacent_layers", "params_per_strategy"):
        for suffix in (".png", ".pdf"):
            assert (out / f"{name}{suffix}").stat().st_size > 1000
    assert (out / "cka_slim_vs_original.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_records_is_a_one_line_error(cache, capsys):
    assert main(["plot", "cka", "--store", str(cache / "empty.sqlite"), "--out", str(cache)]) == 2
    assert "analyze cka" in capsys.readouterr().err


@pytest.mark.parametrize("dataset, features, classes, original, linear, changes", [
    # paper.md §2.1 (Table 10 dimensions); these two datasets are not available offline, so a stub
    # with their feature and class counts stands in for the loaded graph
    ("PubMed", 500, 3, 1_566_722, 3_075, {"half": -66.7, "quarter": -87.5, "2-half": -33.6, "2-quarter": -50.3}),
    ("ogbn-arxiv", 128, 40, 2_243_587, 41_000,
     {"half": -73.4, "quarter": -92.5, "2-original": -47.0, "2-half": -70.4, "2-quarter": -82.2}),
])
def test_parameter_table_graphmae_pubmed_arxiv(dataset, features, classes, original, linear, changes):
    from torch_geometric.data import Data

    registry = build_registry()
    pretrainer = registry.get("pretrainer", "graphmae")
    data = Data(x=torch.zeros(2, features), edge_index=torch.zeros(2, 0, dtype=torch.long), num_classes=classes)
    slimmers = [(s, resolve_options(s, dataset, "graphmae")) for s in
                (registry.get("slimmer", n) for n in ["original", *changes])]
    rows = {r["slimmer"]: r for r in parameter_rows(pretrainer, resolve_options(pretrainer, dataset, "graphmae"), data,
                                                    slimmers)}
    assert (rows["original"]["gnn_params"], rows["original"]["linear_params"]) == (original, linear)
    assert {n: round(rows[n]["gnn_change_pct"], 1) for n in changes} == changes
