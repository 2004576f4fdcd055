"""The plugin API's checks: each mistake a plugin author can make is one line naming the plugin, exit 2,
before any training (registration); components that break the encoder contract are named after the
call; ``slide-bench describe`` shows a component's options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from torch import nn

from registry import DatasetSpec, Pretrainer, Slimmer, hookimpl
from registry.testing import plugin_bench
from tests.test_plugins import Majority, Plain, PlainEncoder, load_toy


class Third(Slimmer):
    name = "third"
    description = "a slimmer"

    def slim(self, encoder: nn.Module, options: Any, seed: int) -> nn.Module:
        return encoder


class NotADataclass:
    lr: float = 0.1


class BadOptions(Majority):
    name = "bad-options"
    Options = NotADataclass


@dataclass
class EpochOptions:
    epochs: int = 1


class BadQuick(Majority):
    name = "bad-quick"
    Options = EpochOptions
    quick = {"epoch": 1}


class BadOverrides(Majority):
    name = "bad-overrides"
    Options = EpochOptions
    overrides = {"graphmae/Cora": {"epochs": 2, "lr": 0.1}}


@dataclass
class NeedsValue:
    width: int


class NoDefaults(Majority):
    name = "no-defaults"
    Options = NeedsValue


class NoEncoder(Pretrainer):
    name = "no-encoder"

    def pretrain(self, data, options, ctx):
        raise AssertionError("never called")


def load_without_seed(root):
    return load_toy(root)


MISTAKES = {  # hook → what is registered → the one line expected
    "class instead of instance": ("register_slimmers", Third,
                                  "registered the class Third through register_slimmers; register an instance: register(Third())"),
    "slimmer through register_heads": ("register_heads", Third(),
                                       "registered slimmer 'third' through register_heads; register it through register_slimmers"),
    "not a component": ("register_heads", object(), "registered a object through register_heads; expected a registry.Head instance"),
    "Options not a dataclass": ("register_heads", BadOptions(), "head 'bad-options': Options must be a @dataclass class"),
    "Options without defaults": ("register_heads", NoDefaults(), "head 'no-defaults': Options() fails with its defaults: TypeError"),
    "quick key": ("register_heads", BadQuick(), "head 'bad-quick': quick names unknown option(s) epoch. Options: epochs"),
    "overrides key": ("register_heads", BadOverrides(),
                      "head 'bad-overrides': overrides['graphmae/Cora'] names unknown option(s) lr. Options: epochs"),
    "dataset load signature": ("register_datasets", DatasetSpec("noseed", load_without_seed),
                               "dataset 'noseed': load must accept (root, split_seed), got load(root)"),
    "pretrainer that cannot rebuild its encoder": (
        "register_pretrainers", NoEncoder(),
        "pretrainer 'no-encoder': set Encoder (rebuilt as Encoder(**arch)) or override build_encoder(arch)"),
    "dataset as a class": ("register_datasets", DatasetSpec,
                           "registered the class DatasetSpec through register_datasets; register an instance"),
}


def plugin_registering(hook: str, obj: Any) -> object:
    plugin = type("Mistaken", (), {})()
    setattr(plugin, hook, hookimpl(lambda register: register(obj)))
    return plugin


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_registration_mistake_is_one_line_naming_the_plugin(mistake, tmp_path):
    hook, obj, expected = MISTAKES[mistake]
    with plugin_bench(("my-plugin", plugin_registering(hook, obj)), entry_points=["slide_plugin"], folder=tmp_path) as bench:
        for argv in (["plugins"], ["run", "--preset", "quick", "--quiet"]):
            result = bench.run(*argv)
            assert result.code == 2 and result.out == ""
            assert result.err.startswith("slide-bench: error: plugin 'my-plugin'") and result.err.count("\n") == 1
            assert expected in result.err
        assert not bench.store.exists() and not (tmp_path / "encoders").exists()  # nothing trained


# ---- after each call: the encoder contract -----------------------------------------------------------

class NoDim(nn.Module):
    def __init__(self, in_dim: int = 12):
        super().__init__()
        self.lin, self.arch = nn.Linear(in_dim, 4), {"in_dim": in_dim}

    def forward(self, x, edge_index):
        return self.lin(x)


class NoDimPretrainer(Plain):
    name = "nodim"

    def pretrain(self, data, options, ctx):
        return NoDim(data.num_features)


class Checked(Plain):
    """A pretrainer with init_encoder: slimmers are checked before it trains (which it must not do here)."""

    name = "checked"

    def init_encoder(self, data, options):
        return PlainEncoder(data.num_features, options.width)

    def pretrain(self, data, options, ctx):
        raise AssertionError("pretrained although the slimmer could be checked first")


class Contracts:
    @hookimpl
    def register_pretrainers(self, register):
        register(Plain())
        register(NoDimPretrainer())
        register(Checked())

    @hookimpl
    def register_slimmers(self, register):
        register(Third())

    @hookimpl
    def register_datasets(self, register):
        register(DatasetSpec("Toy", load_toy))


@pytest.fixture
def contracts(tmp_path):
    with plugin_bench(("contracts", Contracts()), entry_points=["slide_plugin"], folder=tmp_path) as bench:
        yield bench


@pytest.mark.parametrize("argv, expected", [
    (["--pretrainer", "nodim"], "plugin 'contracts': pretrainer 'nodim' pretrain() returned a NoDim without a "
                                "positive int 'embedding_dim' (got None)"),
    (["--pretrainer", "plain", "--slim", "third"], "plugin 'contracts': slimmer 'third' slim() returned the encoder "
                                                   "it was given; return a new module"),
    (["--pretrainer", "checked", "--slim", "third"], "slimmer 'third' slim() returned the encoder it was given"),
    (["--pretrainer", "checked", "--slim", "half"], "slimmer 'half' cannot slim the checked encoder for Toy: "
                                                    "PlainEncoder cannot be slimmed"),
])
def test_contract_break_is_one_line_naming_the_plugin(contracts, argv, expected):
    result = contracts.run("run", "--dataset", "Toy", "--quiet", "--preset", "quick", *argv)
    assert result.code == 2 and result.err.count("\n") == 1 and expected in result.err, result.err
    assert not contracts.store.exists() or contracts.results().empty  # not stored as a finished run


# ---- describe ------------------------------------------------------------------------------------------

def test_describe_head_shows_every_option(contracts):
    result = contracts.run("describe", "head", "slide")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("head 'slide' (version ") and "de-correlation" in lines[0]
    assert lines[1] == "provided by plugin 'slide_plugin', distribution slide-bench 0.1.0"
    assert "default slimmer: 2-half" in lines
    epochs = next(line.split() for line in lines if line.startswith("epochs "))
    assert epochs == ["epochs", "int", "≥", "1", "100", "5", "[50,", "1000]", "log"]  # type and valid range,
    # default, quick, what `tune` tries
    assert any(line.startswith("  graphmae/Cora: batch_size=16, memory_size=16,") for line in lines)


def test_describe_plugin_component_and_unknown_name(contracts):
    result = contracts.run("describe", "pretrainer", "checked")
    assert result.code == 0 and "provided by plugin 'contracts' (not from an installed distribution)" in result.out
    assert result.out.splitlines()[-1].split() == ["width", "int", "4"]
    unknown = contracts.run("describe", "head", "slid")
    assert unknown.code == 2 and "Unknown head 'slid'. Did you mean 'slide'?" in unknown.err


# ---- isolation: each plugin manager its own selection rules; pool workers get in-process plugins ---------

RULE_PLUGIN = '''
import torch
from torch_geometric.data import Data
from registry import DatasetSpec, hookimpl
from registry.slimming import ScoreRule


def tiny(root, split_seed):
    y = torch.arange(60) % 3
    masks = [(torch.arange(60) // 20) == i for i in range(3)]
    return Data(x=torch.randn(60, 8, generator=torch.Generator().manual_seed(0)) + y[:, None],
                edge_index=torch.stack([torch.arange(60), (torch.arange(60) + 3) % 60]), y=y, num_classes=3,
                train_mask=masks[0], val_mask=masks[1], test_mask=masks[2])


@hookimpl
def register_selection_rules(register):
    register(ScoreRule("norm", lambda layer: layer.unit_weights().norm(dim=(0, 2))))


@hookimpl
def register_datasets(register):
    register(DatasetSpec("tiny", tiny, "60 nodes"))
'''


def test_selection_rules_do_not_leak_between_plugin_managers(tmp_path, monkeypatch):
    from registry.slimming import selection_rule

    (tmp_path / "norm_rule.py").write_text(RULE_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    import norm_rule

    with plugin_bench(norm_rule, entry_points=["slide_plugin"], folder=tmp_path / "a") as with_rule:
        with plugin_bench(entry_points=["slide_plugin"], folder=tmp_path / "b") as without:
            assert with_rule.run("run", "--dataset", "tiny", "--slim", "half", "--set", "slim.selection=norm", "--preset", "quick",
                                 "--quiet").code == 0
            result = without.run("run", "--slim", "half", "--set", "slim.selection=norm", "--preset", "quick", "--quiet")
            assert result.code == 2 and "unknown selection rule 'norm'" in result.err
            assert without.run("run", "--no-such-flag").code == 2  # a usage error is a code too, not SystemExit
            with_rule.registry()  # the last registry built holds the rule
    with pytest.raises(ValueError, match="unknown selection rule 'norm'"):
        selection_rule("norm")  # nothing left behind by the benches


def test_pool_workers_load_plugins_given_in_process(tmp_path, monkeypatch):
    """A plugin given to registry.testing (not installed, no environment variable) runs in pool workers."""
    (tmp_path / "norm_rule.py").write_text(RULE_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    import norm_rule

    spec = tmp_path / "spec.toml"
    spec.write_text('datasets = ["tiny"]\npretrainers = ["graphmae"]\nslimmers = ["half"]\nheads = ["linear"]\n'
                    'seeds = [0, 1]\npreset = "quick"\n[set]\nslim.selection = "norm"\n')
    with plugin_bench(norm_rule, entry_points=["slide_plugin"], folder=tmp_path / "bench") as bench:
        result = bench.run("matrix", str(spec), "--executor", "pool", "--workers", "2", "--threads", "1", "--quiet")
        assert result.code == 0, result.err
        rows = bench.results()
    assert rows["status"].tolist() == ["ok", "ok"]
    assert {c["slimmer"]["options"]["selection"] for c in rows["config"]} == {"norm"}


def test_pool_refuses_plugins_workers_cannot_import_in_one_line(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text('datasets = ["Cora"]\npretrainers = ["graphmae"]\nheads = ["linear"]\npreset = "quick"\n')
    with plugin_bench(("inline", plugin_registering("register_slimmers", Third())), entry_points=["slide_plugin"],
                      folder=tmp_path) as bench:
        result = bench.run("matrix", str(spec), "--executor", "pool", "--workers", "1", "--quiet")
    assert result.code == 2 and result.err.count("\n") == 1
    assert "plugin 'inline' is not an importable module" in result.err and "--executor local" in result.err
    assert not (tmp_path / "encoders").exists()
