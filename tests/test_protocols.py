"""The paper's exact protocols as options (issue 20, part 1): the validation-tie rule, the classifier's
initialisation, slimmer-keyed overrides and the two "w/o de" ablations; and what SLIDE's RFF map sees (part 2)."""

import pytest
import torch
from torch import nn

from registry import RunContext
from registry.config import resolve_options
from registry.heads import make_classifier
from registry.spec import MatrixSpec
from slide_plugin.decorrelation import SampleReweighter
from slide_plugin.heads.full import FullFineTune, FullOptions
from slide_plugin.heads.linear import LinearProbe
from slide_plugin.heads.lora import SlideLoraHead
from slide_plugin.heads.slide import SlideHead, SlideOptions, SlideWithoutDecorrelation
from tests.test_slide_head import tiny_encoder, tiny_graph


def one_validation_node(seed: int = 0):
    """A tiny graph whose validation set is one node: its Micro-F1 is 0 or 100, so epochs tie."""
    data = tiny_graph(seed=seed)
    data.val_mask[:] = False
    data.val_mask[25] = True
    return data


def fit_head(head, options, data):
    torch.manual_seed(0)
    return head.fit(tiny_encoder(), data, options, RunContext(torch.device("cpu"), seed=0))


@pytest.mark.parametrize("head,make_options", [
    (FullFineTune(), lambda ties: FullOptions(epochs=12, head_lr=0.05, encoder_lr=1e-3, later_ties=ties)),
    (SlideHead(), lambda ties: SlideOptions(epochs=12, batch_size=8, memory_size=8, epochb=2, head_lr=0.05,
                                            encoder_lr=1e-3, later_ties=ties)),
])
def test_a_tie_at_the_best_validation_epoch_keeps_the_later_epoch_under_ge(head, make_options):
    data = one_validation_node()
    first, later = fit_head(head, make_options(False), data), fit_head(head, make_options(True), data)
    assert first["val_micro_f1"] == later["val_micro_f1"] == 100.0  # the same best score, reached more than once ...
    assert later["best_epoch"] > first["best_epoch"]  # ... `>=` keeps the last epoch that reached it, `>` the first


@pytest.mark.parametrize("head", [LinearProbe(), FullFineTune(), SlideHead(), SlideLoraHead(), SlideWithoutDecorrelation()])
def test_official_tie_rule_and_classifier_init_per_pretrainer(head):
    graphmae = resolve_options(head, "Cora", "graphmae")
    assert (graphmae.later_ties, graphmae.classifier_init) == (True, "default")  # graphmae/evaluation.py: `>=`, nn.Linear
    for pretrainer in ("grace", "maskgae"):
        options = resolve_options(head, "CiteSeer", pretrainer)
        assert (options.later_ties, options.classifier_init) == (False, "xavier")  # `>`, Xavier-uniform + zero bias


def test_classifier_inits():
    torch.manual_seed(3)
    expected = nn.Linear(16, 4)
    torch.manual_seed(3)
    default = make_classifier(16, 4, "default")
    assert torch.equal(default.weight, expected.weight) and torch.equal(default.bias, expected.bias)
    xavier = make_classifier(16, 4)
    assert torch.equal(xavier.bias, torch.zeros(4)) and float(xavier.weight.detach().abs().max()) <= (6 / 20) ** 0.5
    with pytest.raises(ValueError, match="one of xavier, default"):
        make_classifier(16, 4, "kaiming")


def test_overrides_can_key_on_the_slimmer():
    """MaskGAE's official linear probe trains 200 epochs on the original encoder, 400 on Half and 2-X, 600 on Quarter."""
    probe = LinearProbe()
    epochs = {slim: resolve_options(probe, "Cora", "maskgae", slimmer=slim).epochs
              for slim in ("original", "half", "quarter", "2-original", "2-half", "2-quarter")}
    assert epochs == {"original": 200, "half": 400, "quarter": 600, "2-original": 400, "2-half": 400, "2-quarter": 400}
    assert resolve_options(probe, "Cora", "maskgae", slimmer="quarter").weight_decay == 1e-3  # the dataset key still applies
    assert resolve_options(probe, "Cora", "graphmae", slimmer="quarter").epochs == 300  # no key for GraphMAE: unchanged
    assert resolve_options(probe, "Cora", "maskgae", sets={"epochs": 7}, slimmer="quarter").epochs == 7  # --set wins


def test_the_runner_resolves_slimmer_keyed_overrides(tmp_path):
    from registry.cache import EncoderCache
    from registry.plugins import build_registry, make_plugin_manager
    from registry.runner import Cell, Runner
    from registry.store import ResultsStore

    runner = Runner(build_registry(make_plugin_manager()), ResultsStore(tmp_path / "s.sqlite"),
                    EncoderCache(tmp_path / "enc"), torch.device("cpu"), quiet=True)
    for slim, epochs in (("original", 200), ("quarter", 600)):
        resolved = runner.resolve(Cell("Cora", "maskgae", slim, "linear"))
        assert resolved.config["head"]["options"]["epochs"] == epochs


def test_the_two_without_decorrelation_protocols():
    """"w/o de (paper)": each pretrainer's own ablation protocol; "w/o de (same loop)": SLIDE's settings, weights 1."""
    wode = SlideWithoutDecorrelation()
    graphmae = resolve_options(wode, "Cora", "graphmae")  # FT's settings, full batch, on the 2-half model
    ft = resolve_options(FullFineTune(), "Cora", "graphmae")
    assert graphmae.batch_size is None and not graphmae.decorrelation
    assert (graphmae.head_lr, graphmae.encoder_lr, graphmae.epochs) == (ft.head_lr, ft.encoder_lr, ft.epochs) == (0.05, 1e-7, 300)
    slide_grace = resolve_options(SlideHead(), "Cora", "grace")
    grace = resolve_options(wode, "Cora", "grace")  # SLIDE's loop at the base epochs
    assert (grace.epochs, slide_grace.epochs, grace.batch_size) == (400, 250, slide_grace.batch_size)
    assert [resolve_options(wode, name, "grace").epochs for name in ("CiteSeer", "PubMed", "Photo", "Computers")] == \
        [100, 200, 250, 200]
    maskgae = resolve_options(wode, "CiteSeer", "maskgae")  # its slim-FT settings
    assert (maskgae.batch_size, maskgae.epochs, maskgae.encoder_lr, maskgae.head_weight_decay) == (512, 400, 5e-4, 1e-2)
    assert maskgae.encoder_train_mode is False
    assert resolve_options(wode, "ogbn-arxiv", "maskgae").batch_size == 4096
    assert wode.default_slimmer == "2-half"
    for table in ("table3", "table4", "table5", "compare"):
        spec = MatrixSpec.load(table)
        groups = {group.label: group for group in spec.groups if group.label}
        assert groups["SLIDE w/o de (same loop)"].sets["head"]["decorrelation"] is False
        assert groups["SLIDE w/o de (paper)"].axes["heads"] == ["slide-wo-de"]


def test_full_batch_without_decorrelation_takes_one_step_per_epoch():
    options = SlideWithoutDecorrelation.Options(epochs=4, batch_size=None, encoder_lr=1e-3)
    ctx = RunContext(torch.device("cpu"), seed=0)
    result = SlideWithoutDecorrelation().fit(tiny_encoder(), tiny_graph(), options, ctx)
    assert (result["steps"], result["samples_seen"]) == (4, 4 * 24) and ctx.diagnostics == []


def correlated_small_embeddings(n: int = 64, d: int = 16, std: float = 0.004) -> torch.Tensor:
    """GraphMAE-like embeddings: per-dimension std ≈ ``std``, dimensions driven by two shared factors."""
    g = torch.Generator().manual_seed(0)
    factors = torch.randn(n, 2, generator=g) @ torch.randn(2, d, generator=g)
    z = factors + 0.3 * torch.randn(n, d, generator=g)
    return 0.02 * torch.randn(d, generator=g) + std * z / z.std(dim=0)


def learn(z: torch.Tensor, rff_input: str) -> tuple[torch.Tensor, dict[str, float]]:
    torch.manual_seed(1)
    learner = SampleReweighter(dim=z.size(1), memory_size=16, lambda0=0.1, epochb=20, rff_input=rff_input)
    for _ in range(2):  # the second batch sees a written memory
        weights, diagnostics = learner(z, epoch=1)
    return weights, {k: float(v) for k, v in diagnostics.items()}


def test_standardised_rff_input_acts_on_small_correlated_embeddings():
    z = correlated_small_embeddings()
    assert float(z.std(dim=0).mean()) == pytest.approx(0.004, rel=1e-3)
    raw_weights, _ = learn(z, "raw")
    assert float((raw_weights - 1).abs().max()) < 0.01  # raw: the RFF features barely vary, weights stay uniform
    weights, diagnostics = learn(z, "standardised")
    assert float((weights - 1).abs().max()) > 0.1  # standardised: the weights move ...
    assert diagnostics["balance_learned"] < 0.95 * diagnostics["balance_uniform"]  # ... and lower the cross-covariance
    assert float(weights.sum()) == pytest.approx(z.size(0), rel=1e-5)


def test_rff_input_is_an_option_of_slide_and_slide_lora(monkeypatch):
    from slide_plugin import decorrelation

    seen = []
    monkeypatch.setattr(decorrelation, "SampleReweighter",
                        lambda *args, **kwargs: seen.append(kwargs["rff_input"]) or SampleReweighter(*args, **kwargs))
    for head in (SlideHead(), SlideLoraHead()):
        options = resolve_options(head, "Cora", "graphmae", "quick", {"rff_input": "standardised", "epochs": 1})
        head.fit(tiny_encoder(), tiny_graph(), options, RunContext(torch.device("cpu"), seed=0))
    assert seen == ["standardised", "standardised"]
    with pytest.raises(ValueError, match="rff_input"):
        SampleReweighter(dim=4, rff_input="whitened")
