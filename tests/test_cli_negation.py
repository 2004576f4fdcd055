"""``--no-OPTION`` switches a boolean head option off through the normal option path."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from registry import Head, hookimpl
from registry.cli import main
from registry.testing import plugin_bench


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


def test_no_option_sets_the_boolean_false(tmp_path):
    common = ["run", "--head", "toggle", "--preset", "quick", "--set", "pretrain.epochs=1", "--quiet"]
    with plugin_bench(("toggle-test", TogglePlugin()), entry_points=["slide_plugin"], folder=tmp_path) as bench:
        assert bench.run(*common).code == 0
        assert bench.run(*common, "--no-shuffle").code == 0
        rows = bench.results()
    assert sorted(rows["test_micro_f1"]) == [0.0, 1.0]
    assert sorted(rows["config"].map(lambda c: c["head"]["options"]["shuffle"])) == [False, True]


def test_unknown_flags_are_still_errors(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["plugins", "--no-such-thing"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err
