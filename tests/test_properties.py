"""Property-based tests (hypothesis) over option values, spec files and command lines: each input either
runs or exits 2 with one line on stderr, never a traceback, and never stores an ``ok`` row with a missing
or non-finite metric.

The default profile keeps the suite small for CI; run it longer with
``SLIDE_HYPOTHESIS_PROFILE=long python -m pytest tests/test_properties.py`` (``thorough`` for more).
"""

from __future__ import annotations

import io
import json
import math
import os
import sqlite3
from contextlib import redirect_stderr, redirect_stdout

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import matrix_plugin
from registry.cli import main
from registry.components import REQUIRED_METRICS
from registry.config import resolve_options
from registry.errors import ConfigError
from registry.options import check_value, option_hints
from registry.plugins import build_registry, make_plugin_manager

settings.register_profile("ci", max_examples=20, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("long", max_examples=500, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=5000, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
PROFILE = os.environ.get("SLIDE_HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)

REGISTRY = build_registry()
COMPONENTS = [(kind, name) for kind in ("pretrainer", "slimmer", "head") for name in REGISTRY.names(kind)
              if option_hints(REGISTRY.get(kind, name).Options)]  # a component may have no options (link-eval)
NUMBERS = st.one_of(st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, 1, -1, 0.5, 1.0, 1e-300, 1e30, 2**63, 2**63 - 1]))
VALUE_TEXT = st.one_of(NUMBERS.map(str), st.sampled_from(["nan", "inf", "-inf", "none", "true", "false", "[]", "[0.5]",
                                                           "[0, 1]", "{}", "stride", "relu", "", " ", "1e400"]),
                       st.text(max_size=12))


@given(component=st.sampled_from(COMPONENTS), data=st.data())
def test_any_option_value_resolves_or_is_one_config_error(component, data):
    kind, name = component
    target = REGISTRY.get(kind, name)
    hints = option_hints(target.Options)
    option = data.draw(st.sampled_from(sorted(hints)), label="option")
    value = data.draw(VALUE_TEXT, label="value")
    try:
        options = resolve_options(target, "Cora", "graphmae", "quick", {option: value})
    except ConfigError as exc:
        assert str(exc)  # the command line prints it on one line (newlines escaped)
        return
    for field, annotation in hints.items():
        assert check_value(getattr(options, field), annotation) is None, (field, getattr(options, field))


@pytest.fixture(scope="module")
def toy_manager():
    pm = make_plugin_manager()
    pm.register(matrix_plugin, name="matrix_test")
    return pm


def _run(argv: list[str], pm) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(argv, plugin_manager=pm)
        except SystemExit as exc:  # argparse
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def _assert_one_line_or_ran(code: int, out: str, err: str) -> None:
    assert "Traceback" not in out + err
    assert code in (0, 1, 2), (code, err)
    if code == 2:
        assert err.count("\n") == 1 and "error: " in err, err


def _assert_no_bad_ok_rows(store) -> None:
    if not os.path.exists(store):
        return
    with sqlite3.connect(store) as db:
        for status, metrics, required in db.execute("SELECT status, metrics, required FROM runs"):
            values = json.loads(metrics)
            if status == "ok":
                for name in json.loads(required) if required else REQUIRED_METRICS:
                    assert isinstance(values.get(name), (int, float)) and math.isfinite(values[name]), (name, values)


HEAD_SETTINGS = st.lists(st.tuples(st.sampled_from(["lr", "weight_decay", "epochs", "batch_size", "later_ties", "lrr"]),
                                   VALUE_TEXT), max_size=3)
EXTRA_FLAGS = st.lists(st.sampled_from([["--seeds", "0"], ["--seeds", "-3"], ["--seeds", "1", "2"],
                                        ["--finetune-seeds", "99999999999999999999"], ["--slim", "half"],
                                        ["--slim", "hafl"], ["--head", "full"], ["--threads", "1"], ["--threads", "0"],
                                        ["--preset", "nope"], ["--device", "cpu"], ["--no-later-ties"], ["--bogus"]]),
                       max_size=2)


@settings(max_examples=max(5, settings().max_examples // 2))
@given(head_sets=HEAD_SETTINGS, flags=EXTRA_FLAGS)
def test_any_run_command_runs_or_fails_in_one_line(tmp_path_factory, monkeypatch, toy_manager, head_sets, flags):
    tmp = tmp_path_factory.mktemp("prop-run")
    monkeypatch.setenv("SLIDE_BENCH_CACHE", str(tmp_path_factory.getbasetemp() / "prop-cache"))
    store = tmp / "runs.sqlite"
    argv = ["run", "--dataset", "toy", "--preset", "quick", "--quiet", "--store", str(store), "--set",
            "pretrain.epochs=1", "--set", "pretrain.num_hidden=8", "--set", "pretrain.num_heads=2", "--set",
            "head.epochs=2"]
    argv += [part for flag in flags for part in flag]
    argv += [arg for option, value in head_sets for arg in ("--set", f"head.{option}={value}")]
    _assert_one_line_or_ran(*_run(argv, toy_manager))
    _assert_no_bad_ok_rows(store)


SPEC_VALUES = st.recursive(st.one_of(st.integers(-2**70, 2**70), st.floats(allow_nan=False), st.booleans(),
                                     st.sampled_from(["Cora", "toy", "graphmae", "linear", "half", "*", "Corra"]),
                                     st.text(max_size=6)),
                           lambda inner: st.lists(inner, max_size=3), max_leaves=6)
SPEC_KEYS = st.sampled_from(["datasets", "pretrainers", "slimmers", "heads", "seeds", "finetune_seeds", "preset",
                             "name", "labels", "bogus"])


def _toml(value) -> str:
    return json.dumps(value).replace("NaN", "nan").replace("Infinity", "inf")  # JSON lists/strings are TOML too


def _spec_text(fields: dict, sets: list[tuple[str, str]]) -> str:
    lines = [f"{key} = {_toml(value)}" for key, value in fields.items()]
    if sets:
        lines.append("[set]")
        lines += [f'{key} = {_toml(value)}' for key, value in sets]
    return "\n".join(lines) + "\n"


@given(fields=st.dictionaries(SPEC_KEYS, SPEC_VALUES, max_size=5),
       base=st.booleans(),
       sets=st.lists(st.tuples(st.sampled_from(["pretrain.epochs", "head.lr", "head.epochs", "slim.selection",
                                                "pretrain.num_heads", "head.bogus", "train.lr"]), SPEC_VALUES),
                     max_size=3),
       noise=st.one_of(st.none(), st.binary(max_size=40)))
def test_any_spec_file_plans_or_fails_in_one_line(tmp_path_factory, monkeypatch, toy_manager, fields, base, sets, noise):
    tmp = tmp_path_factory.mktemp("prop-spec")
    monkeypatch.setenv("SLIDE_BENCH_CACHE", str(tmp / "cache"))
    if base:  # most specs start from a valid one, so the values behind the syntax are reached too
        fields = {"datasets": ["toy"], "pretrainers": ["graphmae"], **fields}
    spec = tmp / "spec.toml"
    spec.write_bytes(noise if noise is not None else _spec_text(fields, sets).encode())
    code, out, err = _run(["matrix", str(spec), "--dry-run", "--store", str(tmp / "runs.sqlite")], toy_manager)
    _assert_one_line_or_ran(code, out, err)
    assert code in (0, 2)
