"""The plugin contract: a plugin object registered in a fixture runs through the same CLI path as the
built-ins; entry-point discovery (faked distributions), strict mode, allow/block lists, typo'd hooks,
duplicate and unknown names; and a guard that every hookspec has a test and a docstring."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import sqlite3
import sys
import types
from typing import Any

import pytest
import torch
from torch import nn
from torch_geometric.data import Data

from registry import DatasetSpec, Head, Pretrainer, Slimmer, hookimpl, hookspecs
from registry.cli import main
from registry.errors import PluginError, UnknownNameError
from registry.executors.base import Executor
from registry.executors.local import LocalBackend
from registry.metrics import count_parameters, f1_scores
from registry.plugins import build_registry, make_plugin_manager, plugin_versions
from registry.slimming import LayerView, ScoreRule, SelectionOptions
from registry.spec import SpecFile
from registry.tasks import Task
from registry.testing import Result, environment_plugins, plugin_bench
from slide_plugin.pretrainers.graphmae import GraphMAEOptions
from slide_plugin.pretrainers.graphmae_model import GraphMAEModel


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """A private cache; one torch thread (tiny models run much faster on a busy CPU)."""
    monkeypatch.setenv("SLIDE_BENCH_CACHE", str(tmp_path / "cache"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---- a third-party plugin, as an object with hookimpl methods -------------------------------------

def load_toy(root, split_seed: int = 0) -> Data:
    """60 nodes, 3 imbalanced classes (30/20/10), features = noisy one-hot class, edges within classes."""
    g = torch.Generator().manual_seed(split_seed)
    y = torch.tensor([0] * 30 + [1] * 20 + [2] * 10)
    x = torch.nn.functional.one_hot(y, 3).float().repeat(1, 4) + 0.5 * torch.randn(60, 12, generator=g)
    src = torch.randint(0, 60, (300,), generator=g)
    dst = torch.stack([torch.nonzero(y == y[s]).flatten()[torch.randint(0, int((y == y[s]).sum()), (1,), generator=g)]
                       for s in src]).flatten()
    perm = torch.randperm(60, generator=g)
    masks = [torch.zeros(60, dtype=torch.bool) for _ in range(3)]
    for mask, idx in zip(masks, (perm[:30], perm[30:45], perm[45:])):
        mask[idx] = True
    return Data(x=x, edge_index=torch.stack([torch.cat([src, dst]), torch.cat([dst, src])]), y=y,
                train_mask=masks[0], val_mask=masks[1], test_mask=masks[2], num_classes=3)


class FirstLayer(Slimmer):
    name = "first-layer"
    description = "keep only the first layer, full width"

    def slim(self, encoder: nn.Module, options: Any, seed: int) -> nn.Module:
        return encoder.slimmed([torch.arange(encoder.blocks[0].units)])


class Majority(Head):
    name = "majority"
    description = "predict the most frequent training label (no training)"

    def fit(self, encoder: nn.Module, data: Data, options: Any, ctx: Any) -> dict[str, float]:
        label = int(data.y[data.train_mask].mode().values)
        pred = torch.full_like(data.y, label)
        val = f1_scores(pred[data.val_mask], data.y[data.val_mask], data.num_classes)
        test = f1_scores(pred[data.test_mask], data.y[data.test_mask], data.num_classes)
        return {f"val_{k}": v for k, v in val.items()} | {f"test_{k}": v for k, v in test.items()} | {
            "trainable_params": 0, "total_params": count_parameters(encoder)}


class PlainEncoder(nn.Module):
    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.lin = nn.Linear(in_dim, out_dim)
        self.arch, self.embedding_dim = {"in_dim": in_dim, "out_dim": out_dim}, out_dim

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.lin(x)


@dataclasses.dataclass
class PlainOptions:
    width: int = 4


class Plain(Pretrainer):
    name = "plain"
    description = "an untrained linear map (a contract test, not a method)"
    Options = PlainOptions

    def pretrain(self, data: Data, options: PlainOptions, ctx: Any) -> nn.Module:
        return PlainEncoder(data.num_features, options.width).to(ctx.device)

    def build_encoder(self, arch: dict[str, Any]) -> nn.Module:
        return PlainEncoder(**arch)


class ToyPlugin:
    @hookimpl
    def register_pretrainers(self, register):
        register(Plain())

    @hookimpl
    def register_slimmers(self, register):
        register(FirstLayer())

    @hookimpl
    def register_heads(self, register):
        register(Majority())

    @hookimpl
    def register_datasets(self, register):
        register(DatasetSpec("Toy", load_toy, "a 60-node graph for contract tests"))

    @hookimpl
    def register_commands(self, subparsers):
        parser = subparsers.add_parser("hello", help="say hello")
        parser.add_argument("--name", default="world")
        parser.set_defaults(func=lambda args: print(f"hello {args.name}"))


@pytest.fixture
def toy(tmp_path):
    """The toy plugin with the built-ins, in a manager of their own (:mod:`registry.testing`)."""
    with plugin_bench(("toy-plugin", ToyPlugin()), entry_points=["slide_plugin"], folder=tmp_path) as bench:
        yield bench


def run(bench, *args: str) -> int:
    result = bench.run("run", "--quiet", "--preset", "quick", *args)
    print(result.out, end="")
    print(result.err, end="", file=sys.stderr)
    return result.code


def stored(bench) -> list[tuple]:
    if not bench.store.exists():  # bad input leaves no store behind
        return []
    with sqlite3.connect(bench.store) as db:
        return db.execute("SELECT pretrainer, slimmer, head, dataset, seed, status FROM runs ORDER BY seed").fetchall()


# ---- one test per hook (the guard at the bottom requires it) -----------------------------------

def test_hook_register_slimmers(toy, capsys):
    """The plugin's slimmer and head run through `slide-bench run` like the built-ins."""
    code = run(toy, "--dataset", "Toy", "--slim", "first-layer", "--head", "majority", "--seeds", "0", "1",
               "--set", "pretrain.epochs=1", "--set", "pretrain.num_hidden=8")
    out = capsys.readouterr().out
    assert code == 0
    assert stored(toy) == [("graphmae", "first-layer", "majority", "Toy", s, "ok") for s in (0, 1)]
    # Change-Param: the second GAT layer (8 → 4 heads × 2 units) is dropped, closed form as in paper.md §2.
    encoder = GraphMAEModel(12, GraphMAEOptions(num_hidden=8)).encoder
    first, second = (count_parameters(block) for block in encoder.blocks)
    assert (first, second) == (12 * 8 + 3 * 8 + 1, 8 * 8 + 3 * 8 + 1)
    assert f"{-100 * second / (first + second):+.1f}%" in out
    data = load_toy(None)
    majority = int(data.y[data.train_mask].mode().values)
    accuracy = 100 * float((data.y[data.test_mask] == majority).float().mean())
    assert f"{accuracy:.2f} ± 0.00" in out
    assert "first-layer" in out and "majority" in out


def test_hook_register_heads(toy):
    reg = toy.registry()
    assert reg.plugin_of("head", "majority") == "toy-plugin"
    assert reg.get("head", "Majority").description.startswith("predict the most frequent")


def test_hook_register_pretrainers(toy, capsys):
    """A plugin pretrainer whose encoder is no StackEncoder, with the built-in 'original' and 'full'."""
    code = run(toy, "--dataset", "Toy", "--pretrainer", "plain", "--head", "full", "--set", "pretrain.width=5", "--show-config")
    out = capsys.readouterr().out
    assert code == 0, out
    assert stored(toy) == [("plain", "original", "full", "Toy", 0, "ok")]
    assert '"width": 5' in out and "+0.0%" in out


def test_slimmer_that_cannot_take_the_encoder_stops_the_run(toy, capsys):
    """No ``init_encoder`` to check before training, so the error comes after pretraining: still one line,
    exit 2, and no failed row (bad input is not a failed run)."""
    code = run(toy, "--dataset", "Toy", "--pretrainer", "plain", "--slim", "half")
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("slide-bench: error: slimmer 'half' cannot slim the plain encoder for Toy: ")
    assert "does not implement registry.slimming.SlimmableEncoder" in err
    assert stored(toy) == []


def test_hook_register_datasets(toy):
    reg = toy.registry()
    assert reg.plugin_of("dataset", "toy") == "toy-plugin"
    data = reg.get("dataset", "Toy").load(None, split_seed=0)
    assert data.num_nodes == 60 and int(data.train_mask.sum() + data.val_mask.sum() + data.test_mask.sum()) == 60


class MajorityAccuracy(Majority):
    name = "majority-accuracy"
    description = "the majority label, scored by accuracy (a head of the toy task)"
    tasks = ("toy-task",)

    def fit(self, encoder: nn.Module, data: Data, options: Any, ctx: Any) -> dict[str, float]:
        scores = super().fit(encoder, data, options, ctx)
        return {"test_acc": scores["test_micro_f1"], "val_acc": scores["val_micro_f1"], "trainable_params": 0,
                "total_params": scores["total_params"]}


class PlainForTasks(Plain):
    name = "plain-any"
    tasks = ("node-classification", "toy-task")


class TaskPlugin:
    @hookimpl
    def register_tasks(self, register):
        register(Task("toy-task", "label the toy nodes", "the toy graph", ("test_acc", "val_acc", "trainable_params",
                      "total_params"), {"test_acc": "Acc"}, "test_acc"))

    @hookimpl
    def register_datasets(self, register):
        register(DatasetSpec("ToyTask", load_toy, "the toy graph, as a task of its own", task="toy-task"))

    @hookimpl
    def register_heads(self, register):
        register(MajorityAccuracy())

    @hookimpl
    def register_pretrainers(self, register):
        register(PlainForTasks())


def test_hook_register_tasks(tmp_path):
    """A plugin's task: its dataset runs with a head of that task, is stored and tabled with the task's
    metrics; a head of another task is refused before anything trains; an unknown task name is an error."""
    with plugin_bench(("toy-plugin", ToyPlugin()), ("task-plugin", TaskPlugin()), entry_points=["slide_plugin"],
                      folder=tmp_path) as bench:
        assert bench.registry().task_of("ToyTask").primary == "test_acc"
        assert run(bench, "--dataset", "ToyTask", "--pretrainer", "plain-any", "--head", "majority-accuracy") == 0
        assert bench.results()[["dataset", "task", "status"]].values.tolist() == [["ToyTask", "toy-task", "ok"]]
        table = bench.run("table")
        assert table.code == 0 and "Acc" in table.out and "toy-task" in table.out and "F1-Mi" not in table.out
        refused = bench.run("run", "--quiet", "--dataset", "ToyTask", "--pretrainer", "plain-any", "--head", "majority")
        assert refused.code == 2 and refused.err.count("\n") == 1
        assert "head 'majority' does not support toy-task" in refused.err and "majority-accuracy" in refused.err
        refused = bench.run("run", "--quiet", "--dataset", "ToyTask", "--pretrainer", "plain", "--head",
                            "majority-accuracy")
        assert refused.code == 2 and "pretrainer 'plain' does not support toy-task" in refused.err
        assert len(bench.results()) == 1  # nothing ran

    class Unknown:
        @hookimpl
        def register_datasets(self, register):
            register(DatasetSpec("Lost", load_toy, task="no-such-task"))

    with plugin_bench(("lost", Unknown()), folder=tmp_path / "lost") as bench:
        with pytest.raises(PluginError, match="plugin 'lost': dataset 'Lost' names unknown task"):
            bench.registry()


def test_hook_register_commands(toy):
    assert toy.run("hello", "--name", "plugins") == Result(0, "hello plugins\n", "")


def test_plugin_is_listed_with_what_it_registered(toy):
    result = toy.run("plugins")
    assert result.code == 0
    lines = result.out.splitlines()
    start = lines.index("toy-plugin (no distribution: registered in-process)")
    block = lines[start + 1:start + 9]
    assert block[0::2] == ["  pretrainers:", "  slimmers:", "  heads:", "  datasets:"]
    assert block[1::2] == [f"    {c.name}  {c.description}" for c in (Plain, FirstLayer, Majority)] + [
        "    Toy  a 60-node graph for contract tests"]


def test_unregistered_plugin_is_gone(toy):
    toy.plugin_manager.unregister(name="toy-plugin")
    with pytest.raises(UnknownNameError):
        toy.registry().get("slimmer", "first-layer")


def weight_norm(layer: LayerView) -> torch.Tensor:
    return layer.unit_weights().norm(dim=(0, 2))


class RulePlugin:
    @hookimpl
    def register_selection_rules(self, register):
        register(ScoreRule("norm", weight_norm, "the units with the largest incoming weight norm"))


def test_hook_register_selection_rules(tmp_path):
    """A registered rule is taken by name by every built-in slimmer (--set slim.selection=norm)."""
    with plugin_bench(("rules", RulePlugin()), ("toy-plugin", ToyPlugin()), entry_points=["slide_plugin"],
                      folder=tmp_path) as bench:
        reg = bench.registry()
        assert reg.names("selection") == ["stride", "random", "norm"] and reg.plugin_of("selection", "norm") == "rules"
        encoder = GraphMAEModel(12, GraphMAEOptions(num_hidden=16, num_heads=4)).encoder
        slim = reg.get("slimmer", "half").slim(encoder, SelectionOptions("norm"), seed=0)
        first = encoder.layer_views()[0]
        expected = weight_norm(first).topk(2).indices.sort().values  # 4 units per head, half kept
        kept = slim.blocks[0].conv.lin.weight.view(4, 2, -1)
        assert torch.equal(kept, first.unit_weights()[:, expected])
        code = run(bench, "--dataset", "Toy", "--slim", "quarter", "--set", "slim.selection=norm",
                   "--set", "pretrain.epochs=1", "--set", "pretrain.num_hidden=8")
        assert code == 0 and bench.results()["status"].tolist() == ["ok"]
        result = bench.run("run", "--dataset", "Toy", "--slim", "half", "--set", "slim.selection=nrom")
        assert result.code == 2 and "unknown selection rule 'nrom' (stride, random, norm)" in result.err


SPEC = """description = "the toy plugin's smoke matrix"
datasets = ["Toy"]
pretrainers = ["plain"]
heads = ["majority", "linear"]
preset = "quick"
"""


def test_hook_register_specs(tmp_path):
    (tmp_path / "toy-smoke.toml").write_text(SPEC)

    class SpecPlugin:
        @hookimpl
        def register_specs(self, register):
            register(SpecFile(tmp_path / "toy-smoke.toml"))

    with plugin_bench(("specs-plugin", SpecPlugin()), ("toy-plugin", ToyPlugin()), entry_points=["slide_plugin"],
                      folder=tmp_path / "bench") as bench:
        listing = bench.run("specs")
        assert listing.code == 0
        line = next(line for line in listing.out.splitlines() if line.startswith("toy-smoke"))
        assert line.split(None, 1)[1] == "the toy plugin's smoke matrix [specs-plugin]"
        assert any(line.startswith("table3 ") for line in listing.out.splitlines())  # the core's shipped specs
        result = bench.run("matrix", "toy-smoke", "--quiet")
        assert result.code == 0, result.err
        assert sorted(bench.results()["head"]) == ["linear", "majority"]
        missing = bench.run("matrix", "toy-smok")
        assert missing.code == 2 and "toy-smoke" in missing.err and missing.err.count("\n") == 1


def test_hook_register_executors(tmp_path):
    """A third-party executor joins ``--executor`` by name, and its cells land in the store."""
    (tmp_path / "toy-smoke.toml").write_text(SPEC)
    submitted = []

    class RecordingBackend(LocalBackend):
        def submit(self, tasks):
            submitted.extend(task.cell.head for task in tasks)
            super().submit(tasks)

    class Recording(Executor):
        name = "recording"
        description = "cells in this process, each recorded"

        def open(self, options, context):
            return RecordingBackend(context)

    class ExecutorPlugin:
        @hookimpl
        def register_executors(self, register):
            register(Recording())

    with plugin_bench(("executor-plugin", ExecutorPlugin()), ("toy-plugin", ToyPlugin()), entry_points=["slide_plugin"],
                      folder=tmp_path / "bench") as bench:
        listing = bench.run("plugins").out
        assert "  executors:\n    recording  " in listing
        result = bench.run("matrix", str(tmp_path / "toy-smoke.toml"), "--quiet", "--executor", "recording")
        assert result.code == 0, result.err
        assert sorted(submitted) == sorted(bench.results()["head"]) == ["linear", "majority"]
        unknown = bench.run("matrix", str(tmp_path / "toy-smoke.toml"), "--executor", "recordng")
        assert unknown.code == 2 and "Unknown executor 'recordng'. Did you mean 'recording'?" in unknown.err


class DefaultsPlugin:
    """Supplies the built-in linear probe's settings for the toy pretrainer (another plugin's head)."""

    @hookimpl
    def register_defaults(self, register):
        register("head", "linear", {"plain/Toy": {"epochs": 7, "lr": 0.05}})


def test_hook_register_defaults(tmp_path):
    with plugin_bench(("defaults", DefaultsPlugin()), ("toy-plugin", ToyPlugin()), entry_points=["slide_plugin"],
                      folder=tmp_path) as bench:
        assert run(bench, "--dataset", "Toy", "--pretrainer", "plain", "--preset", "official") == 0
        (config,) = bench.results()["config"]
        assert (config["head"]["options"]["epochs"], config["head"]["options"]["lr"]) == (7, 0.05)
        described = bench.run("describe", "head", "linear").out
        assert "  plain/Toy: epochs=7, lr=0.05  (from plugin 'defaults')" in described
        assert run(bench, "--dataset", "Toy", "--pretrainer", "plain", "--set", "head.epochs=3") == 0  # --set wins
        assert sorted(c["head"]["options"]["epochs"] for c in bench.results()["config"]) == [3, 7]


@pytest.mark.parametrize("supplied, message", [
    (("head", "linear", {"graphmae/Cora": {"lr": 0.5}}),
     "plugin 'defaults': defaults for head 'linear' ['graphmae/Cora'] set option 'lr', which plugin 'slide_plugin' already sets there"),
    (("head", "linear", {"Toy": {"lr_typo": 0.5}}), "plugin 'defaults': defaults for head 'linear' ['Toy'] names unknown option(s) lr_typo"),
    (("head", "nohead", {"Toy": {"lr": 0.5}}), "plugin 'defaults' supplies defaults for head 'nohead', which no plugin registered"),
    (("dataset", "Cora", {"Toy": {}}), "plugin 'defaults' supplies defaults for a 'dataset'"),
])
def test_bad_supplied_defaults_name_the_plugin(supplied, message):
    class Bad:
        @hookimpl
        def register_defaults(self, register):
            register(*supplied)

    with plugin_bench(("defaults", Bad()), entry_points=["slide_plugin"]) as bench:
        result = bench.run("plugins")
        assert result.code == 2 and result.err.count("\n") == 1
        assert message in result.err


# ---- duplicate and unknown names ---------------------------------------------------------------

class Twice:
    class Half(FirstLayer):
        name = "HALF"  # names match case-blind: this is slide_plugin's 'half'

    @hookimpl
    def register_slimmers(self, register):
        register(self.Half())


def test_duplicate_name_names_both_plugins():
    with plugin_bench(("twice", Twice()), entry_points=["slide_plugin"]) as bench:
        with pytest.raises(PluginError) as info:
            bench.registry()
        message = str(info.value)
        assert "'half'" in message.lower() and "'twice'" in message and "'slide_plugin'" in message
        result = bench.run("plugins")
        assert result.code == 2 and result.err.count("\n") == 1 and "registered twice" in result.err


def test_unknown_name_lists_names_and_a_close_match():
    reg = build_registry()
    with pytest.raises(UnknownNameError) as info:
        reg.get("slimmer", "hafl")
    message = str(info.value)
    assert "Unknown slimmer 'hafl'. Did you mean 'half'?" in message
    assert "Known: original, half, quarter, 2-original, 2-half, 2-quarter, custom" in message
    assert "Did you mean 'CiteSeer'" in str(pytest.raises(UnknownNameError, reg.get, "dataset", "citeseir").value)
    assert "Did you mean" not in str(pytest.raises(UnknownNameError, reg.get, "head", "zzz").value)
    assert reg.get("slimmer", "2_Half").name == "2-half"  # case, '-' and '_' do not matter


# ---- entry points (faked distributions, as pytest's own tests do) ------------------------------

@dataclasses.dataclass
class DummyEntryPoint:
    name: str
    target: Any  # the loaded object, or an exception that loading raises
    group: str = "slide_bench"

    def load(self) -> Any:
        if isinstance(self.target, BaseException):
            raise self.target
        return self.target


@dataclasses.dataclass
class DummyDist:
    entry_points: list[DummyEntryPoint]
    version: str = "1.2.3"
    name: str = "toy-dist"

    @property
    def metadata(self) -> dict[str, str]:
        return {"Name": self.name, "name": self.name}


def plugin_module(name: str, slimmer: str, **extra: Any) -> types.ModuleType:
    """A module-style plugin registering one slimmer (plus any extra hookimpls)."""
    module = types.ModuleType(name)

    class Named(FirstLayer):
        pass

    Named.name = slimmer

    @hookimpl
    def register_slimmers(register):
        register(Named())

    module.register_slimmers = register_slimmers
    for attr, value in extra.items():
        setattr(module, attr, value)
    return module


@pytest.fixture
def fake_dists(monkeypatch):
    """Replace the installed distributions; the environment starts with no plugin variables."""
    for variable in ("SLIDE_BENCH_LOAD_PLUGINS", "SLIDE_BENCH_DISABLE_PLUGINS", "SLIDE_BENCH_STRICT_PLUGINS"):
        monkeypatch.delenv(variable, raising=False)
    dists: list[DummyDist] = []
    monkeypatch.setattr(importlib.metadata, "distributions", lambda: iter(dists))
    return dists


def test_entry_point_plugin_is_loaded(fake_dists):
    fake_dists.append(DummyDist([DummyEntryPoint("toy", plugin_module("toy_plugin", "toy-slim")),
                                 DummyEntryPoint("elsewhere", plugin_module("other", "other"), group="pytest11")]))
    pm = make_plugin_manager()
    assert pm.has_plugin("toy") and not pm.has_plugin("elsewhere")
    assert plugin_versions(pm) == {"toy": "1.2.3"}
    reg = build_registry(pm)
    assert reg.plugin_of("slimmer", "toy-slim") == "toy"
    assert reg.names("dataset")[0] == "Cora"  # the core's own plugins are registered too


def test_broken_plugin_warns_once_and_others_load(fake_dists, capsys):
    fake_dists.append(DummyDist([DummyEntryPoint("broken", ImportError("No module named 'missing_dep'")),
                                 DummyEntryPoint("toy", plugin_module("toy_plugin", "toy-slim"))]))
    pm = make_plugin_manager()
    err = capsys.readouterr().err
    assert err == ("slide-bench: warning: plugin 'broken' (toy-dist) failed to load: "
                   "ImportError: No module named 'missing_dep'\n")
    assert pm.has_plugin("toy") and not pm.has_plugin("broken")


def test_strict_mode_makes_a_broken_plugin_an_error(fake_dists, monkeypatch):
    fake_dists.append(DummyDist([DummyEntryPoint("broken", ImportError("No module named 'missing_dep'"))]))
    monkeypatch.setenv("SLIDE_BENCH_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="plugin 'broken' \\(toy-dist\\) failed to load: ImportError"):
        make_plugin_manager()


def test_hookimpl_with_unknown_arguments_fails_to_load(fake_dists, capsys):
    @hookimpl
    def register_heads(register, extra):
        pass

    fake_dists.append(DummyDist([DummyEntryPoint("odd", plugin_module("odd", "odd-slim", register_heads=register_heads))]))
    pm = make_plugin_manager()
    assert not pm.has_plugin("odd")
    assert "plugin 'odd' (toy-dist) failed to load: PluginValidationError" in capsys.readouterr().err


def test_disable_plugins_blocks_names(fake_dists, monkeypatch):
    fake_dists.append(DummyDist([DummyEntryPoint("toy", plugin_module("toy_plugin", "toy-slim")),
                                 DummyEntryPoint("keep", plugin_module("keep_plugin", "keep-slim"))]))
    monkeypatch.setenv("SLIDE_BENCH_DISABLE_PLUGINS", "toy, registry.commands.plugins")
    pm = make_plugin_manager()
    assert not pm.has_plugin("toy") and pm.has_plugin("keep")
    assert not pm.has_plugin("registry.commands.plugins") and pm.has_plugin("registry.commands.run")


@pytest.mark.parametrize("value, loaded", [("keep", {"keep"}), ("keep,toy", {"keep", "toy"}), ("", set())])
def test_load_plugins_restricts_entry_points(fake_dists, monkeypatch, value, loaded):
    fake_dists.append(DummyDist([DummyEntryPoint("toy", plugin_module("toy_plugin", "toy-slim")),
                                 DummyEntryPoint("keep", plugin_module("keep_plugin", "keep-slim"))]))
    monkeypatch.setenv("SLIDE_BENCH_LOAD_PLUGINS", value)
    pm = make_plugin_manager()
    assert {name for name in ("toy", "keep") if pm.has_plugin(name)} == loaded
    assert pm.has_plugin("registry.datasets")  # the core is not an entry point


def test_typo_in_hook_name_fails_check_pending(fake_dists, monkeypatch, capsys):
    @hookimpl
    def register_slimer(register):
        pass

    fake_dists.append(DummyDist([DummyEntryPoint("typo", plugin_module("typo", "t", register_slimer=register_slimer))]))
    with pytest.raises(PluginError, match="plugin 'typo' implements unknown hook\\(s\\) register_slimer. Known hooks: "):
        make_plugin_manager()
    with environment_plugins():  # the CLI builds its manager from the (fake) distributions: one line, exit 2
        assert main(["plugins"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("slide-bench: error: plugin 'typo'") and err.count("\n") == 1


def test_failing_register_hook_is_a_plugin_error(fake_dists):
    @hookimpl
    def register_heads(register):
        raise RuntimeError("boom")

    fake_dists.append(DummyDist([DummyEntryPoint("bad", plugin_module("bad", "b", register_heads=register_heads))]))
    with pytest.raises(PluginError, match="plugin 'bad' failed in register_heads: RuntimeError: boom"):
        build_registry(make_plugin_manager())


def test_same_name_from_two_distributions(fake_dists):
    fake_dists.append(DummyDist([DummyEntryPoint("one", plugin_module("one", "shared"))], name="one-dist"))
    fake_dists.append(DummyDist([DummyEntryPoint("two", plugin_module("two", "Shared"))], name="two-dist"))
    with pytest.raises(PluginError, match="registered twice: by plugin '(one|two)' and by plugin '(one|two)'") as info:
        build_registry(make_plugin_manager())
    assert "'one'" in str(info.value) and "'two'" in str(info.value)


# ---- the datasette-style guard ------------------------------------------------------------------

def test_every_hookspec_has_a_test_and_a_docstring():
    specs = [name for name, fn in vars(hookspecs).items()
             if callable(fn) and hasattr(fn, f"{hookspecs.PROJECT}_spec")]
    assert sorted(specs) == sorted(n for n in vars(hookspecs) if n.startswith("register_"))
    assert specs
    for name in specs:
        assert f"test_hook_{name}" in globals(), f"hook {name} has no test_hook_{name}"
        doc = getattr(hookspecs, name).__doc__ or ""
        assert len(doc.strip()) > 20, f"hook {name} has no docstring"
