"""Option resolution: ``--set`` parsing, type coercion, precedence and validation errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pytest

from registry import Slimmer
from registry.config import parse_sets, resolve_options
from registry.errors import ConfigError


@dataclass
class ToyOptions:
    epochs: int = 10
    lr: float = 0.1
    scheduler: bool = True
    norm: str | None = None
    layers: int | None = None
    old_style: Optional[float] = None
    ratios: list[float] = field(default_factory=lambda: [1.0])
    name: str = "a"

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")


class Toy(Slimmer):
    name = "toy"
    Options = ToyOptions
    overrides = {
        "Cora": dict(epochs=20, lr=0.2, name="cora"),
        "graphmae/Cora": dict(lr=0.3),
        "grace/CiteSeer": dict(epochs=40),
    }
    quick = dict(epochs=2)

    def slim(self, encoder, options, seed):
        return encoder


def resolve(sets=None, dataset="Cora", pretrainer="graphmae", preset="official"):
    return resolve_options(Toy(), dataset, pretrainer, preset, sets)


def test_parse_sets_groups_by_section():
    sets = parse_sets(["pretrain.epochs=5", "head.lr = 0.1", "slim.ratios=[1, 0.5]", "pretrain.epochs=6"])
    assert sets == {"pretrain": {"epochs": "6"}, "slim": {"ratios": "[1, 0.5]"}, "head": {"lr": "0.1"}}
    assert parse_sets(["head.name=a=b"])["head"] == {"name": "a=b"}  # only the first '=' splits


@pytest.mark.parametrize("item, message", [
    ("pretrain.epochs", "section.option=value"),
    ("epochs=5", "section.option=value"),
    ("pretrain.=5", "section.option=value"),
    ("=5", "section.option=value"),
    ("train.epochs=5", "'train' is not one of pretrain, slim, head"),
])
def test_parse_sets_errors(item, message):
    with pytest.raises(ConfigError, match=message):
        parse_sets([item])


@pytest.mark.parametrize("option, text, value", [
    ("epochs", "7", 7),
    ("lr", "1e-3", 1e-3),
    ("lr", "2", 2.0),
    ("scheduler", "false", False),
    ("scheduler", "0", False),
    ("scheduler", "True", True),
    ("scheduler", "yes", True),
    ("norm", "layernorm", "layernorm"),
    ("norm", "none", None),
    ("norm", "null", None),
    ("layers", "3", 3),
    ("layers", "None", None),
    ("old_style", "0.5", 0.5),
    ("ratios", "[1, 0.5]", [1, 0.5]),
    ("ratios", "0.5", [0.5]),
    ("name", "[not json]", "[not json]"),
])
def test_values_are_coerced_to_the_declared_type(option, text, value):
    got = getattr(resolve({option: text}), option)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("option, text, message", [
    ("epochs", "2.5", "expects int, got '2.5'"),
    ("epochs", "many", "expects int"),
    ("lr", "fast", "expects float"),
    ("scheduler", "maybe", "expects true/false"),
    ("layers", "two", "expects int"),
    ("ratios", "[1, 0.5", "expects a JSON value"),
])
def test_ill_typed_values_are_config_errors(option, text, message):
    with pytest.raises(ConfigError, match=message):
        resolve({option: text})


def test_unknown_option_lists_the_options():
    with pytest.raises(ConfigError) as info:
        resolve({"epoch": "3"})
    message = str(info.value)
    assert "no option 'epoch'" in message and "--set" in message
    assert "Options: epochs, lr, scheduler, norm, layers, old_style, ratios, name" in message


def test_unknown_option_in_official_overrides_is_reported_with_its_origin():
    class Broken(Toy):
        overrides = {"Cora": dict(epoch=3)}

    with pytest.raises(ConfigError, match=r"no option 'epoch' \(official config\)"):
        resolve_options(Broken(), "Cora", "graphmae")


def test_options_validation_becomes_a_config_error():
    with pytest.raises(ConfigError, match="slimmer 'toy': epochs must be at least 1, got 0"):
        resolve({"epochs": "0"})


def test_unknown_preset():
    with pytest.raises(ConfigError, match="Unknown preset 'fast'. Known: official, quick"):
        resolve(preset="fast")


def test_precedence_defaults_overrides_quick_set():
    assert resolve(dataset="PubMed") == ToyOptions()  # no override for PubMed: the defaults
    cora = resolve()  # dataset key, then the pretrainer/dataset key wins
    assert (cora.epochs, cora.lr, cora.name) == (20, 0.3, "cora")
    assert resolve(pretrainer="grace").lr == 0.2  # 'graphmae/Cora' does not apply to grace
    assert resolve(dataset="CiteSeer", pretrainer="GRACE").epochs == 40  # keys match case-blind
    assert resolve(dataset="cora").name == "cora"
    quick = resolve(preset="quick")  # the preset beats the official config ...
    assert (quick.epochs, quick.lr) == (2, 0.3)
    assert resolve({"epochs": "9"}, preset="quick").epochs == 9  # ... and --set beats both
    assert resolve({"lr": "0.5"}).lr == 0.5
