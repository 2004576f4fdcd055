"""``--no-OPTION`` switches a boolean head option off through the normal option path."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from registry import Head, hookimpl
from registry.cli import main
from registry.plugins import get_plugin_manager
from registry.store import ResultsStore


@dataclass
class ToggleOptions:
    shuffle: bool = True


class ToggleHead(Head):
    name = "toggle"
    description = "test head that reports its boolean option as a metric"
    Options = ToggleOptions

    def fit(self, encoder, data, options, ctx):
        return {"test_micro_f1": float(options.shuffle), "test_macro_f1": 0.0, "val_micro_f1": 0.0,
                "trainable_params": 0, "total_params": 0}


class TogglePlugin:
    @hookimpl
    def register_heads(self, register):
        register(ToggleHead())


@pytest.fixture
def toggle_plugin():
    pm = get_plugin_manager()
    pm.register(TogglePlugin(), name="toggle-test")
    try:
        yield
    finally:
        pm.unregister(name="toggle-test")


def test_no_option_sets_the_boolean_false(toggle_plugin, tmp_path):
    store = tmp_path / "s.sqlite"
    common = ["run", "--head", "toggle", "--preset", "quick", "--set", "pretrain.epochs=1", "--store", str(store),
              "--quiet"]
    assert main(common) == 0
    assert main(common + ["--no-shuffle"]) == 0
    rows = ResultsStore(store).frame()
    assert sorted(rows["test_micro_f1"]) == [0.0, 1.0]
    assert sorted(rows["config"].map(lambda c: c["head"]["options"]["shuffle"])) == [False, True]


def test_unknown_flags_are_still_errors(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["plugins", "--no-such-thing"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err
