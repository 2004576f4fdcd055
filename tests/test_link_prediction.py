"""Link prediction: the split never leaks held-out edges into pretraining, PubMed-link through the normal
loader, the link predictor's slimming contract, seeds, the heads, and refused node-classification heads."""

from __future__ import annotations

import pytest
import torch
from test_datasets import write_planetoid

from registry.checks import check_encoder
from registry.cli import main
from registry.components import RunContext
from registry.datasets import BUILTIN, load_dataset
from registry.linksplit import link_split
from registry.plugins import build_registry
from registry.seed import seed_everything
from registry.slimming import slim_encoder
from registry.store import ResultsStore
from slide_plugin.heads.link import LinkEval, LinkFineTune, LinkSlide
from slide_plugin.pretrainers import maskgae_model
from slide_plugin.pretrainers.maskgae_link import MaskGAELink
from slide_plugin.slimming import BUILTIN as SLIMMERS

SPECS = {spec.name: spec for spec in BUILTIN}
CPU = torch.device("cpu")


def pairs(edge_index: torch.Tensor) -> set[tuple[int, int]]:
    """Undirected node pairs of ``edge_index``."""
    return {(min(u, v), max(u, v)) for u, v in edge_index.t().tolist()}


@pytest.fixture(scope="module")
def pubmed_link(tmp_path_factory):
    """PubMed-link through the normal loader, from a small graph in Planetoid's raw layout."""
    root = tmp_path_factory.mktemp("data")
    write_planetoid(root / "PubMed" / "raw", "pubmed", num_features=12)
    return load_dataset(SPECS["PubMed-link"], root)


def test_split_holds_no_held_out_edge_in_the_training_graph(pubmed_link):
    data = pubmed_link
    train, val, test = pairs(data.edge_index), pairs(data.val_pos_edge_index), pairs(data.test_pos_edge_index)
    assert train and val and test and not (train & val) and not (train & test) and not (val & test)
    assert pairs(data.test_edge_index) == train | val  # testing sees training and validation edges, never test ones
    assert not pairs(data.val_neg_edge_index) & (train | val | test)
    assert not pairs(data.test_neg_edge_index) & (train | val | test)
    everything = len(train | val | test)
    assert len(test) == int(0.1 * everything) and len(val) == int(0.05 * everything)  # RandomLinkSplit 5% / 10%


def test_split_depends_on_the_split_seed_only(pubmed_link):
    graph = pubmed_link.clone()
    graph.edge_index = pubmed_link.test_edge_index  # any graph
    torch.manual_seed(1)
    a = link_split(graph, seed=3)
    torch.manual_seed(2)
    b = link_split(graph, seed=3)
    c = link_split(graph, seed=4)
    assert torch.equal(a.test_pos_edge_index, b.test_pos_edge_index) and torch.equal(a.edge_index, b.edge_index)
    assert not torch.equal(a.test_pos_edge_index, c.test_pos_edge_index)


def test_pretraining_sees_training_edges_only(pubmed_link, monkeypatch):
    seen = []
    original = maskgae_model.MaskGAEModel.train_epoch

    def spy(self, x, edge_index, optimizer):
        seen.append(pairs(edge_index))
        return original(self, x, edge_index, optimizer)

    monkeypatch.setattr(maskgae_model.MaskGAEModel, "train_epoch", spy)
    pretrainer = MaskGAELink()
    options = pretrainer.Options(**pretrainer.quick)
    predictor = pretrainer.pretrain(pubmed_link, options, RunContext(CPU))
    held_out = pairs(pubmed_link.val_pos_edge_index) | pairs(pubmed_link.test_pos_edge_index)
    assert len(seen) == options.epochs and all(edges == pairs(pubmed_link.edge_index) for edges in seen)
    assert all(not edges & held_out for edges in seen)
    check_encoder(predictor, "maskgae-link", cached=True)


def predictor(layers: int, in_dim: int = 12):
    from slide_plugin.pretrainers.maskgae_link_model import build_predictor

    torch.manual_seed(0)
    options = MaskGAELink().Options(encoder_layers=layers, encoder_channels=16, hidden_channels=8, bn=True,
                                    decoder_channels=6)
    model = build_predictor(in_dim, options)
    for module in model.modules():  # batch-norm statistics that are not the identity
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    return model.eval()


@pytest.mark.parametrize("layers", [1, 2])
def test_slim_predictor_equals_the_full_one_with_removed_units_masked(layers, pubmed_link):
    full = predictor(layers)
    slim = slim_encoder(full, [0.5]).eval()  # new modules start in training mode
    x, edges = pubmed_link.x, pubmed_link.edge_index
    kept = torch.arange(0, 8, 2)  # stride: every second unit of the last layer
    with torch.no_grad():
        if layers == 1:
            assert torch.allclose(slim(x, edges), full(x, edges)[:, kept], atol=1e-5)
        z_full, z_slim = full(x, edges), slim(x, edges)
        mask = torch.zeros(8)
        mask[kept] = 1
        pos = pubmed_link.test_pos_edge_index
        masked = full.decoder((z_full[pos[0]] * z_full[pos[1]]) * mask) if layers == 1 else None
        if masked is not None:
            assert torch.allclose(slim.edge_logits(z_slim, pos), masked.squeeze(-1), atol=1e-5)
    assert slim.decoder.mlps[0].in_features == 4 and slim.decoder.mlps[0].out_features == 6  # hidden width kept
    assert [v.units for v in slim.layer_views()] == [max(1, round(v.units / 2)) for v in full.layer_views()]


@pytest.mark.parametrize("slimmer", SLIMMERS, ids=lambda s: s.name)
def test_every_builtin_slimmer_takes_the_link_predictor(slimmer):
    full = predictor(2)
    slim = slimmer.slim(full, slimmer.default_options(), seed=0)
    assert slim is not full
    check_encoder(slim, slimmer.name, cached=True)
    rebuilt = MaskGAELink().build_encoder(slim.arch)
    rebuilt.load_state_dict(slim.state_dict())  # the cache round trip


def test_heads_score_the_held_out_edges(pubmed_link):
    model = predictor(1)
    ctx = RunContext(CPU)
    direct = LinkEval().fit(model, pubmed_link, None, ctx)
    assert direct["trainable_params"] == 0 and 0 <= direct["test_auc"] <= 100 and 0 <= direct["test_ap"] <= 100
    for head in (LinkFineTune(), LinkSlide()):
        tuned = head.fit(predictor(1), pubmed_link, head.Options(**head.quick), RunContext(CPU))
        assert tuned["val_auc"] >= direct["val_auc"]  # epoch 0 (the untuned model) is a candidate
        assert tuned["epochs"] == head.quick["epochs"] and tuned["trainable_params"] == tuned["total_params"] > 0


def test_node_classification_heads_are_refused_before_training(tmp_path, capsys):
    store = tmp_path / "r.sqlite"
    code = main(["run", "--dataset", "Cora-link", "--pretrainer", "maskgae-link", "--head", "linear",
                 "--preset", "quick", "--store", str(store), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "head 'linear' does not support link-prediction" in err
    assert "link-eval" in err and ResultsStore(store).frame().empty  # nothing ran
    code = main(["run", "--dataset", "Cora-link", "--pretrainer", "maskgae", "--head", "link-eval",
                 "--preset", "quick", "--store", str(store), "--quiet"])
    assert code == 2 and "pretrainer 'maskgae' does not support link-prediction" in capsys.readouterr().err


def test_each_seed_pretrains_a_new_model(tmp_path, capsys):
    store = tmp_path / "r.sqlite"
    assert main(["run", "--dataset", "Cora-link", "--pretrainer", "maskgae-link", "--head", "link-eval",
                 "--seeds", "0", "1", "0", "--preset", "quick", "--store", str(store), "--quiet",
                 "--format", "csv"]) == 0
    df = ResultsStore(store).frame()
    assert df["seed"].tolist() == [0, 1] and df["task"].unique().tolist() == ["link-prediction"]
    assert df["test_auc"].nunique() == 2  # independent pretrainings, not one model trained on
    assert build_registry().task_of("Cora-link").primary == "test_auc"


def test_cora_parameter_counts_match_the_derived_ones():
    """paper.md §2.4: the link-prediction encoder on Cora (1 GCN layer of 128 + BN) has 183,808 parameters,
    its Half 91,904; the edge decoder (128 → 64 → 1) adds 8,321 and, reading half the units, 4,225."""
    from registry.metrics import count_parameters
    from torch_geometric.data import Data

    pretrainer = MaskGAELink()
    options = pretrainer.Options(**pretrainer.overrides["Cora-link"])
    full = pretrainer.init_encoder(Data(x=torch.zeros(1, 1433)), options)
    half = slim_encoder(full, [0.5])
    assert (count_parameters(full.encoder), count_parameters(half.encoder)) == (183_808, 91_904)
    assert (count_parameters(full.decoder), count_parameters(half.decoder)) == (8_321, 4_225)


def test_redundancy_analyses_take_the_link_predictor(pubmed_link):
    from slide_plugin.redundancy import parameter_rows, slim_vs_original

    records = slim_vs_original(predictor(2), pubmed_link.x, pubmed_link.edge_index, rates=(0.0, 0.5))
    assert {(r["scope"], r["rate"], r["layer"]) for r in records} >= {("all", 0.5, 1), ("l2", 0.5, 2)}
    assert all(r["cka"] == pytest.approx(1.0, abs=1e-5) for r in records if r["rate"] == 0.0)
    pretrainer, half = MaskGAELink(), next(s for s in SLIMMERS if s.name == "half")
    (row,) = parameter_rows(pretrainer, pretrainer.Options(), pubmed_link, [(half, half.default_options())])
    assert row["linear_params"] is None and row["num_classes"] is None and -51 < row["gnn_change_pct"] < -49


@pytest.mark.parametrize("head", [LinkFineTune(), LinkSlide()], ids=lambda h: h.name)
def test_test_edges_do_not_steer_selection(head, pubmed_link):
    """Other test non-edges change the test scores, and nothing that selection used."""
    other = pubmed_link.clone()
    other.test_neg_edge_index = pubmed_link.test_neg_edge_index.flip(0)[:, torch.randperm(161)] % 100
    runs = []
    for data in (pubmed_link, other):
        model = predictor(1)
        seed_everything(0)  # PyG samples non-edges with Python's random module
        runs.append((head.fit(model, data, head.Options(**head.quick), RunContext(CPU)), model))
    (first, a), (second, b) = runs
    assert first["test_ap"] != second["test_ap"]
    for key in ("best_epoch", "val_auc", "val_ap"):
        assert first[key] == second[key], key
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
