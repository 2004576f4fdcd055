"""Declared valid values of options (registry.options): every built-in option's values pass, nonsense
is refused for every cell before any training with one line naming component, option, value and range,
and a plugin's ``Options`` get the checks for free."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Annotated

import pytest

from registry import Count, OneOf, PositiveFloat, Probability, Range, Ratio, Slimmer, check_value, describe_options
from registry.cli import main
from registry.config import resolve_options
from registry.errors import ConfigError
from registry.plugins import build_registry
from slide_plugin.pretrainers.graphmae import GraphMAE

TINY = ["--preset", "quick", "--quiet", "--set", "pretrain.epochs=1", "--set", "pretrain.num_hidden=16"]


@pytest.fixture(autouse=True)
def no_training(monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise AssertionError("trained before the input was checked")

    monkeypatch.setattr(GraphMAE, "pretrain", refuse)
    monkeypatch.setenv("SLIDE_BENCH_CACHE", str(tmp_path / "cache"))


def test_every_builtin_default_override_and_preset_is_valid():
    registry = build_registry()
    for kind in ("pretrainer", "slimmer", "head"):
        for name in registry.names(kind):
            for dataset in registry.names("dataset"):
                for pretrainer in registry.names("pretrainer"):
                    for preset in ("official", "quick"):
                        resolve_options(registry.get(kind, name), dataset, pretrainer, preset)


def test_every_builtin_option_declares_its_valid_values():
    """Numbers and strings say what they accept (booleans and free lists are their type)."""
    registry = build_registry()
    for kind in ("pretrainer", "slimmer", "head"):
        for name in registry.names(kind):
            for spec in describe_options(registry.get(kind, name).Options):
                if spec.name == "selection":  # a registered selection rule's name, checked by SelectionOptions
                    continue
                assert spec.valid not in ("int", "float", "str", "int or none", "float or none"), (kind, name, spec)


@pytest.mark.parametrize("setting, message", [
    ("pretrain.epochs=-5", "pretrainer 'graphmae' option 'epochs' = -5 is invalid (valid: int ≥ 1)"),
    ("pretrain.num_heads=0", "pretrainer 'graphmae' option 'num_heads' = 0 is invalid (valid: int ≥ 1)"),
    ("pretrain.mask_rate=0", "option 'mask_rate' = 0.0 is invalid (valid: float (0, 1))"),
    ("pretrain.in_drop=1", "option 'in_drop' = 1.0 is invalid (valid: float [0, 1))"),
    ("pretrain.lr=-1e-3", "option 'lr' = -0.001 is invalid (valid: float > 0)"),
    ("pretrain.activation=tanh", "option 'activation' = 'tanh' is invalid (valid: one of none, relu, elu, prelu"),
    ("head.lr=inf", "head 'linear' option 'lr' = inf is invalid (valid: float > 0)"),
    ("head.lr=nan", "head 'linear' option 'lr' = nan is invalid (valid: float > 0)"),
    ("head.lr=0", "head 'linear' option 'lr' = 0.0 is invalid (valid: float > 0)"),
    ("head.weight_decay=-1", "option 'weight_decay' = -1.0 is invalid (valid: float ≥ 0)"),
    ("head.epochs=0", "head 'linear' option 'epochs' = 0 is invalid (valid: int ≥ 1)"),
    ("head.batch_size=0", "option 'batch_size' = 0 is invalid (valid: int ≥ 1 or none)"),
    ("slim.selection=every", "unknown selection rule 'every'"),
])
def test_nonsense_option_is_one_line_exit_2_before_training(tmp_path, capsys, setting, message):
    store = tmp_path / "runs.sqlite"
    code = main(["run", *TINY, "--store", str(store), "--set", setting])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert message in err
    assert not store.exists() or sqlite3.connect(store).execute("SELECT count(*) FROM runs").fetchone() == (0,)


@pytest.mark.parametrize("seeds, message", [
    (["--seeds", str(2**63)], f"seed {2**63} is invalid (valid: int [0, {2**63 - 1}])"),
    (["--seeds", "-1"], "seed -1 is invalid"),
    (["--finetune-seeds", str(2**64)], f"fine-tuning seed {2**64} is invalid"),
])
def test_seed_out_of_range_is_refused_before_training(tmp_path, capsys, seeds, message):
    code = main(["run", *TINY, "--store", str(tmp_path / "runs.sqlite"), *seeds])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


def test_one_bad_cell_stops_the_whole_matrix_before_training(tmp_path, capsys):
    """The bad value sits in the last group only: no cell of the matrix trains."""
    spec = tmp_path / "bad.toml"
    spec.write_text('datasets = ["Cora"]\npretrainers = ["graphmae"]\n[set]\npretrain.epochs = 1\n'
                    '[[group]]\nheads = ["linear"]\n[[group]]\nheads = ["full"]\n[group.set]\nhead.head_lr = 0\n')
    code = main(["matrix", str(spec), "--quiet", "--store", str(tmp_path / "runs.sqlite")])
    err = capsys.readouterr().err
    assert code == 2 and "head 'full' option 'head_lr' (spec 'bad' [set]) = 0.0 is invalid (valid: float > 0)" in err


def test_a_spec_value_of_the_wrong_type_is_refused(tmp_path, capsys):
    spec = tmp_path / "typed.toml"
    spec.write_text('datasets = ["Cora"]\npretrainers = ["graphmae"]\n[set]\npretrain.epochs = 1.5\n')
    code = main(["matrix", str(spec), "--quiet", "--store", str(tmp_path / "runs.sqlite")])
    err = capsys.readouterr().err
    assert code == 2 and "pretrainer 'graphmae' option 'epochs' (spec 'typed' [set]) expects int, got '1.5'" in err


@dataclass
class ToyOptions:
    rounds: Count = 3
    keep: list[Ratio] = field(default_factory=lambda: [0.5])
    rate: Annotated[float, Range(0, 10, high_open=True)] = 1.0
    mode: Annotated[str, OneOf("a", "b")] = "a"
    step: PositiveFloat | None = None
    dropout: Probability = 0.0


class Toy(Slimmer):
    name = "toy"
    Options = ToyOptions

    def slim(self, encoder, options, seed):
        return encoder


@pytest.mark.parametrize("sets, message", [
    ({"rounds": "0"}, "slimmer 'toy' option 'rounds' = 0 is invalid (valid: int ≥ 1)"),
    ({"keep": "[0.5, 2]"}, "option 'keep' = [0.5, 2] is invalid (valid: list of float (0, 1])"),
    ({"rate": "10"}, "option 'rate' = 10.0 is invalid (valid: float [0, 10))"),
    ({"mode": "c"}, "option 'mode' = 'c' is invalid (valid: one of a, b)"),
    ({"step": "-inf"}, "option 'step' = -inf is invalid (valid: float > 0 or none)"),
    ({"rounds": True}, "option 'rounds' = True is invalid (valid: int ≥ 1)"), ({"mode": 3}, "option 'mode' = 3 is invalid"),
])
def test_a_plugins_options_are_checked_for_free(sets, message):
    with pytest.raises(ConfigError) as info:
        resolve_options(Toy(), "Cora", "graphmae", sets=sets)
    assert message in str(info.value)


def test_valid_values_are_introspectable():
    specs = {s.name: s for s in describe_options(ToyOptions)}
    assert specs["rounds"].default == 3 and specs["rounds"].valid == "int ≥ 1"
    assert specs["keep"].default == [0.5] and specs["step"].valid == "float > 0 or none"
    assert specs["mode"].valid == "one of a, b" and specs["dropout"].valid == "float [0, 1)"
    assert resolve_options(Toy(), "Cora", "graphmae", sets={"step": "none", "keep": "1"}).keep == [1.0]
    assert check_value(float("nan"), float) == "valid: finite float"  # undeclared floats are finite too
    assert check_value(5, Count) is None and str(Range(0, 1, low_open=True)) == "(0, 1]"
