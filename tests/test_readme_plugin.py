"""The README's example plugin is complete, under 20 lines, and runs through the CLI like a built-in."""

from __future__ import annotations

import re
from pathlib import Path


from registry.cli import main
from registry.store import ResultsStore
from registry.testing import environment_plugins

README = Path(__file__).resolve().parents[1] / "README.md"


def example_plugin() -> str:
    text = README.read_text()
    match = re.search(r"<!-- example-plugin -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README lost its example plugin block"
    return match.group(1)


def test_example_plugin_is_short():
    lines = [line for line in example_plugin().splitlines() if line.strip()]
    assert len(lines) < 20


def test_example_plugin_runs_from_a_plugins_dir(tmp_path, monkeypatch, capsys):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "third.py").write_text(example_plugin())
    monkeypatch.setenv("SLIDE_BENCH_PLUGINS_DIR", str(tmp_path / "plugins"))
    store = tmp_path / "runs.sqlite"
    with environment_plugins():  # a fresh manager that sees the folder
        code = main(["run", "--slim", "third", "--preset", "quick", "--set", "pretrain.epochs=1",
                     "--set", "head.epochs=2", "--store", str(store), "--quiet"])
    assert code == 0
    assert "third" in capsys.readouterr().out
    (row,) = ResultsStore(store).frame().to_dict("records")
    assert row["slimmer"] == "third" and row["status"] == "ok"
    # a third of every layer's units kept: roughly two thirds of the encoder's parameters removed
    assert -70 < row["param_change_pct"] < -60


def test_broken_local_plugin_is_one_error_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "bad.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.setenv("SLIDE_BENCH_PLUGINS_DIR", str(tmp_path))
    with environment_plugins():
        assert main(["plugins"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.py" in err[0] and "boom" in err[0]
