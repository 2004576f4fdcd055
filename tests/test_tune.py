"""``slide-bench tune``: search spaces declared on options, equal trials per method, resumable trials,
tuning seeds apart from reporting seeds, a spec that `matrix` runs, and no trial that reads test labels."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, make_dataclass
from typing import Annotated

import optuna
import pytest
from matrix_plugin import load_toy

from registry import DatasetSpec, hookimpl
from registry.config import resolve_options
from registry.errors import PluginError
from registry.options import Choice, Count, PositiveFloat, Search, search_space
from registry.plugins import build_registry
from registry.runner import Runner
from registry.spec import MatrixSpec
from registry.testing import plugin_bench
from registry.tune import Settings, Target, official, space_of, validation_metric
from slide_plugin.heads.linear import LinearProbe

QUICK = ["--preset", "quick", "--set", "pretrain.epochs=2", "--set", "head.epochs=4", "--quiet", "--threads", "1"]


def load_flipped(root, split_seed: int = 0):
    """The toy graph with every test label changed."""
    data = load_toy(root, split_seed)
    data.y = data.y.clone()
    data.y[data.test_mask] = (data.y[data.test_mask] + 1) % data.num_classes
    return data


class Toys:
    @hookimpl
    def register_datasets(self, register):
        register(DatasetSpec("toy", load_toy, "120-node toy graph"))
        register(DatasetSpec("toy-flipped", load_flipped, "the toy graph, every test label wrong"))


def tune(bench, *args: str, dataset: str = "toy"):
    return bench.run("tune", "--datasets", dataset, "--seeds", "100", "--report-seeds", "0",
                     "--report-finetune-seeds", "0", "--out", str(bench.folder / "tuned.toml"), *QUICK, *args)


def study(bench, head: str = "linear") -> optuna.Study:
    storage = f"sqlite:///{bench.folder / 'results-trials.sqlite'}"
    names = [s.study_name for s in optuna.get_all_study_summaries(storage) if f"/{head}/" in s.study_name]
    assert len(names) == 1, names
    return optuna.load_study(study_name=names[0], storage=storage)


def test_search_spaces_are_read_from_options_and_fit_the_official_graphmae_configs():
    @dataclass
    class Options:
        lr: Annotated[PositiveFloat, Search(1e-3, 1.0, log=True)] = 0.01
        epochs: Annotated[Count, Search(10, 100)] = 50
        mode: Annotated[str, Choice("a", "b")] = "a"
        fixed: float = 1.0

    assert search_space(Options) == {"lr": Search(1e-3, 1.0, log=True), "epochs": Search(10, 100),
                                      "mode": Choice("a", "b")}
    registry = build_registry()
    for name in ("linear", "full", "slide"):
        head = registry.get("head", name)
        space = search_space(head.Options)
        assert {"epochs"} < set(space), name
        for dataset in ("Cora", "CiteSeer"):  # the first trial of every study is the official configuration
            options = resolve_options(head, dataset, "graphmae")
            assert all(s.contains(getattr(options, k)) for k, s in space.items()), (name, dataset)


def test_the_first_trial_is_the_configuration_the_target_runs_officially(tmp_path):
    """Per-dataset, per-slimmer (MaskGAE's linear probe trains 400 epochs on a half encoder) and fixed values."""
    with plugin_bench(entry_points=["slide_plugin"], folder=tmp_path) as bench:
        registry = bench.registry()
        runner = Runner(registry, None, None, "cpu")
        settings = Settings(1, [100], [0], [0], [0])
        half = Target("Cora", "maskgae", "half", "linear")
        space = space_of(runner, half)
        assert official(runner, half, settings, space) == {"lr": 0.01, "weight_decay": 1e-3, "epochs": 400}
        fixed = Target("Cora", "graphmae", "original", "linear", sets=(("head", "lr", "0.2"),))
        assert official(runner, fixed, settings, space_of(runner, fixed)) == {"weight_decay": 1e-4, "epochs": 300}


@pytest.mark.parametrize("space", [Search(0.5, 10), Search(0, 10, log=True), Search(5, 1), Choice(1)])
def test_a_search_space_that_does_not_fit_its_option_is_refused_at_registration(space):
    BadOptions = make_dataclass("BadOptions", [("epochs", Annotated[Count, space], field(default=5))])

    class Bad(LinearProbe):
        name, Options, overrides, quick = "bad", BadOptions, {}, {}

    class Plugin:
        @hookimpl
        def register_heads(self, register):
            register(Bad())

    with plugin_bench(Plugin()) as bench, pytest.raises(PluginError, match="option 'epochs' search space"):
        bench.registry()


def test_overlapping_tuning_and_reporting_seeds_are_refused_in_one_line(tmp_path):
    with plugin_bench(Toys(), entry_points=["slide_plugin"], folder=tmp_path) as bench:
        result = bench.run("tune", "--datasets", "toy", "--seeds", "1", "100", "--report-seeds", "0", "1", *QUICK)
        assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result.err
        assert "overlap (1)" in result.err
        assert not bench.store.exists() or bench.results().empty  # nothing ran


def test_the_objective_is_the_validation_score_of_the_tasks_primary_metric(tmp_path):
    tasks = build_registry().tasks()
    assert {name: validation_metric(task) for name, task in tasks.items()} == {
        "node-classification": "val_micro_f1", "link-prediction": "val_auc", "graph-classification": "val_accuracy"}
    with plugin_bench(Toys(), entry_points=["slide_plugin"], folder=tmp_path) as bench:
        result = tune(bench, "--metric", "test_micro_f1")
        assert result.code == 2 and "validation scores only" in result.err and len(result.err.splitlines()) == 1


def test_tune_without_optuna_names_the_tune_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    with plugin_bench(Toys(), entry_points=["slide_plugin"], folder=tmp_path) as bench:
        result = tune(bench, "--trials", "2")
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1
    assert "pip install 'slide-bench[tune]'" in result.err


def test_equal_trials_per_method_and_the_spec_runs_the_best_on_reporting_seeds(tmp_path):
    with plugin_bench(Toys(), entry_points=["slide_plugin"], folder=tmp_path) as bench:
        result = tune(bench, "--trials", "3", "--methods", "original/linear=LP", "2-half/slide=SLIDE")
        assert result.code == 0, result.err
        spec = MatrixSpec.load(tmp_path / "tuned.toml")
        for head in ("linear", "slide"):
            trials = study(bench, head).trials
            assert len(trials) == 3 and trials[0].user_attrs["official"]
            best = max(trials, key=lambda t: (t.value, -t.number))
            group = next(g for g in spec.groups if g.axes["heads"] == [head])
            assert group.axes["seeds"] == [0] and group.label == {"linear": "LP", "slide": "SLIDE"}[head]
            assert {k: v for k, v in group.sets["head"].items() if k != "epochs"} == best.params
        assert bench.results()["seed"].eq(100).all()  # tuning ran on the tuning seed only
        assert bench.run("matrix", str(tmp_path / "tuned.toml"), "--quiet", "--threads", "1").code == 0
        runs = bench.results()
        reported = runs[runs["seed"] == 0]
        assert len(reported) == 2 and (reported["status"] == "ok").all()
        linear = reported[reported["head"] == "linear"].iloc[0]
        assert linear["config"]["head"]["options"]["lr"] == study(bench, "linear").best_params["lr"]


def count_runs(monkeypatch, fail_at: int | None = None) -> list[str]:
    """Every fine-tuning run from now on, by cell; with ``fail_at``, the run of that index is interrupted."""
    ran, run_one = [], Runner._run_one

    def counting(self, item):
        if len(ran) == fail_at:
            raise KeyboardInterrupt
        ran.append(item.key)
        return run_one(self, item)

    monkeypatch.setattr(Runner, "_run_one", counting)
    return ran


def test_a_killed_tune_resumes_without_redoing_finished_trials_or_runs(tmp_path, monkeypatch):
    with plugin_bench(Toys(), entry_points=["slide_plugin"], folder=tmp_path) as bench:
        args = ("--methods", "original/linear", "--seeds", "100", "101")  # two runs per trial
        assert tune(bench, "--trials", "2", *args).code == 0
        first = [(t.params, t.value) for t in study(bench).trials]
        with monkeypatch.context() as m:
            ran = count_runs(m, fail_at=1)  # trial 3 is interrupted after its first run
            assert tune(bench, "--trials", "3", *args).code == 130
        assert len(ran) == 1
        study(bench).ask()  # and a trial left running by a process that was killed outright
        with monkeypatch.context() as m:
            ran_again = count_runs(m)
            assert tune(bench, "--trials", "3", *args).code == 0
        trials = study(bench).trials
        assert [(t.params, t.value) for t in trials[:2]] == first  # finished trials kept, not redone
        states = [t.state.name for t in trials]
        assert states == ["COMPLETE", "COMPLETE", "FAIL", "FAIL", "COMPLETE", "WAITING"], states
        assert trials[4].user_attrs["retry_of"] == 2 and trials[4].params == trials[2].params
        assert len(ran_again) == 1 and ran_again[0] not in ran  # only the interrupted trial's missing run
        with monkeypatch.context() as m:
            ran_none = count_runs(m)
            assert tune(bench, "--trials", "3", *args).code == 0
        assert ran_none == [] and len(bench.results()) == 6


def test_tuning_never_reads_test_labels(tmp_path):
    """The same tuning on a graph whose test labels are all wrong: every trial tries the same
    configuration and gets the same value, though the test scores of its runs differ."""
    values, tests = {}, {}
    for dataset in ("toy", "toy-flipped"):
        (tmp_path / dataset).mkdir()
        with plugin_bench(Toys(), entry_points=["slide_plugin"], folder=tmp_path / dataset) as bench:
            result = tune(bench, "--trials", "3", "--methods", "original/linear",
                          "original/full", "2-half/slide", dataset=dataset)
            assert result.code == 0, result.err
            values[dataset] = {h: [(t.params, t.value) for t in study(bench, h).trials] for h in ("linear", "full", "slide")}
            runs = bench.results()
            tests[dataset] = sorted(runs["test_micro_f1"])
    assert values["toy"] == values["toy-flipped"]
    assert all(len(v) == 3 for v in values["toy"].values())
    assert tests["toy"] != tests["toy-flipped"]


def test_options_fixed_with_set_are_not_searched(tmp_path):
    with plugin_bench(Toys(), entry_points=["slide_plugin"], folder=tmp_path) as bench:
        assert tune(bench, "--trials", "2", "--methods", "original/linear", "--set", "head.lr=0.05").code == 0
        trials = study(bench).trials
        assert all(set(t.params) == {"weight_decay"} for t in trials)
        assert all(r["head"]["options"]["lr"] == 0.05 for r in bench.results()["config"])


SPEC = """name = "study"
datasets = ["toy"]
pretrainers = ["graphmae"]
seeds = [0, 1]
finetune_seeds = [0]
preset = "quick"
[set]
pretrain.epochs = 2
head.epochs = 4
[[group]]
slimmers = ["original"]
heads = ["linear"]
label = "LP"
[[group]]
slimmers = ["2-half"]
heads = ["slide"]
label = "SLIDE w/o de"
[group.set]
head.decorrelation = false
"""


def test_tuning_a_spec_keeps_each_groups_options_label_and_reporting_seeds(tmp_path):
    (tmp_path / "study.toml").write_text(SPEC)
    with plugin_bench(Toys(), entry_points=["slide_plugin"], folder=tmp_path) as bench:
        overlap = bench.run("tune", "--spec", str(tmp_path / "study.toml"), "--seeds", "1", "100")
        assert overlap.code == 2 and "overlap (1)" in overlap.err
        listed = bench.run("tune", "--spec", str(tmp_path / "study.toml"), "--dry-run").out.splitlines()
        fixed = "pretrain.epochs=2 head.epochs=4"
        assert [line.split(": ")[0] for line in listed] == [f"graphmae/original/linear {fixed} toy (LP)",
                                                            "graphmae/2-half/slide pretrain.epochs=2 head.decorrelation=false "
                                                            "head.epochs=4 toy (SLIDE w/o de)"]
        searched = listed[1].split(": ")[1]
        assert "lambda0 [0.001, 30] log" in searched and "epochs" not in searched  # fixed by the spec: not searched
        assert not bench.store.exists() or bench.results().empty
        result = bench.run("tune", "--spec", str(tmp_path / "study.toml"), "--trials", "2", "--seeds", "100",
                           "--out", str(tmp_path / "tuned.toml"), "--quiet", "--threads", "1")
        assert result.code == 0, result.err
        spec = MatrixSpec.load(tmp_path / "tuned.toml")
        assert [g.label for g in spec.groups] == ["LP", "SLIDE w/o de"]
        assert all(g.axes["seeds"] == [0, 1] and g.preset == "quick" for g in spec.groups)
        slide = spec.groups[1].sets["head"]
        assert slide["decorrelation"] is False and slide["epochs"] == 4 and set(study(bench, "slide").best_params) < set(slide)
        assert all(not r["head"]["options"]["decorrelation"] for r in bench.results()["config"] if "lambda0" in r["head"]["options"])
