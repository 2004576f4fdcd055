"""The command line: `plugins` (text, JSON), `run` end to end on the embedded Cora with resume from the
store, and bad input as one line on stderr with exit code 2 and no traceback."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import torch

from registry import __version__
from registry.cli import main
from slide_plugin.heads.linear import LinearProbe
from slide_plugin.pretrainers.graphmae import GraphMAE

NAMED_SLIMMERS = ["original", "half", "quarter", "2-original", "2-half", "2-quarter", "custom"]
TINY = ["--set", "pretrain.epochs=1", "--set", "pretrain.num_hidden=16", "--set", "head.epochs=5"]


@pytest.fixture(autouse=True, scope="module")
def isolated(tmp_path_factory):
    """One private cache for the module (Cora is processed once); one torch thread (much faster for
    these tiny models on a busy CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SLIDE_BENCH_CACHE", str(tmp_path_factory.mktemp("cli-cache")))
        yield
    torch.set_num_threads(threads)


def rows(store) -> list[tuple]:
    if not Path(store).exists():  # bad input leaves no store behind
        return []
    with sqlite3.connect(store) as db:
        return db.execute("SELECT key, status, slimmer, seed, wall_time_s, finished_at FROM runs ORDER BY key").fetchall()


def listed_components(lines: list[str], plugin: str) -> dict[str, dict[str, str]]:
    """``slide-bench plugins`` text: ``{kind heading: {component: description}}`` of one plugin."""
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{plugin} ("))
    out: dict[str, dict[str, str]] = {}
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        if not line.startswith("    "):
            kind = out.setdefault(line.strip().rstrip(":"), {})
            continue
        name, _, description = line.strip().partition("  ")
        kind[name] = description.strip()
    return out


def test_plugins_lists_plugins_their_distributions_and_components_with_descriptions(capsys):
    assert main(["plugins"]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = listed_components(lines, "slide_plugin")
    assert list(listed["slimmers"])[:7] == NAMED_SLIMMERS and {"linear", "full"} <= set(listed["heads"])
    assert listed["pretrainers"]["graphmae"].startswith("GraphMAE: masked feature reconstruction")
    assert all(listed[kind][name] for kind in listed for name in listed[kind])  # every component says what it is
    assert next(line for line in lines if line.startswith("slide_plugin (")) == f"slide_plugin (slide-bench {__version__})"
    core = listed_components(lines, "registry.datasets")
    assert list(core["datasets"]) == ["Cora", "CiteSeer", "PubMed", "Photo", "Computers", "ogbn-arxiv", "Cora-link",
                                      "CiteSeer-link", "PubMed-link"]
    assert core["datasets"]["Cora"].startswith("Planetoid citation graph")
    assert f"registry.datasets (built-in, slide-bench {__version__})" in lines
    tasks = listed_components(lines, "registry.tasks")
    assert list(tasks["tasks"]) == ["node-classification", "link-prediction", "graph-classification"]


def test_plugins_json(capsys):
    assert main(["plugins", "--json"]) == 0
    listing = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    slide = listing["slide_plugin"]
    assert {"register_heads", "register_pretrainers", "register_slimmers"} <= set(slide["hooks"])
    assert "graphmae" in slide["registered"]["pretrainer"]
    assert slide["registered"]["slimmer"][:7] == NAMED_SLIMMERS
    assert listing["registry.datasets"]["registered"] == {
        "dataset": ["Cora", "CiteSeer", "PubMed", "Photo", "Computers", "ogbn-arxiv", "Cora-link", "CiteSeer-link",
                    "PubMed-link"]}
    assert listing["registry.commands.run"]["hooks"] == ["register_commands"]
    assert slide["distribution"] == listing["registry.datasets"]["distribution"] == {"name": "slide-bench",
                                                                                     "version": __version__}
    graphmae = next(c for c in slide["components"]["pretrainer"] if c["name"] == "graphmae")
    assert graphmae["description"].startswith("GraphMAE: masked feature reconstruction")


def resolved_config(out: str) -> dict:
    text = out.split("Resolved configuration:\n", 1)[1]
    return json.loads(text[:text.index("\n|")])


def test_run_quick_end_to_end_then_resume(tmp_path, capsys, monkeypatch):
    store = tmp_path / "runs.sqlite"
    args = ["run", "--preset", "quick", "--quiet", "--seeds", "0", "1", "--store", str(store), "--show-config", *TINY]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert sum(line.startswith("ok     graphmae/original/linear Cora pretrain seed ") for line in out.splitlines()) == 2
    config = resolved_config(out)
    assert config["dataset"] == "Cora" and config["slimmer"] == {"name": "original", "version": "1", "options": {"selection": "stride"}}
    assert (config["pretrainer"]["options"]["epochs"], config["pretrainer"]["options"]["num_hidden"]) == (1, 16)
    assert config["pretrainer"]["options"]["num_heads"] == 4  # Cora's official config below the preset
    assert config["head"]["options"]["epochs"] == 5
    table = out[out.index("\n|"):]
    assert "F1-Mi" in table and "F1-Ma" in table and "Change-Param" in table
    row = next(line for line in table.splitlines() if "| Cora" in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:4] == ["Cora", "graphmae", "original", "linear"]
    assert all(" ± " in c for c in cells[4:6]) and cells[6] == "+0.0%" and cells[-1] == "0 1"
    first = rows(store)
    assert [r[1] for r in first] == ["ok", "ok"]

    # The same invocation again: nothing is trained, the rows are untouched, the table is the same.
    def no_training(*args, **kwargs):
        raise AssertionError("trained although the store has the result")

    monkeypatch.setattr(GraphMAE, "pretrain", no_training)
    monkeypatch.setattr(LinearProbe, "fit", no_training)
    assert main(args) == 0
    again, note = capsys.readouterr()
    assert "ok     " not in again and again == out[out.index("Resolved configuration:"):]
    assert "2 of 2 runs reused from the store (use --force to rerun)" in note
    assert rows(store) == first

    # Another slimmer: the pretrained encoders come from the encoder cache, only the head trains.
    monkeypatch.undo()
    monkeypatch.setattr(GraphMAE, "pretrain", no_training)
    assert main([*args, "--slim", "2-half"]) == 0
    out = capsys.readouterr().out
    # 16 hidden, 4 heads: layer 2 keeps 2 of 4 units per head (closed form of paper.md §2).
    layer1, layer2, slim2 = 1433 * 16 + 3 * 16 + 1, 16 * 16 + 3 * 16 + 1, 16 * 8 + 3 * 8 + 1
    assert f"{100 * (slim2 - layer2) / (layer1 + layer2):+.1f}%" in out
    assert len(rows(store)) == 4


@pytest.mark.parametrize("args, message", [
    (["--slim", "hafl"], "Unknown slimmer 'hafl'. Did you mean 'half'? Known: original, half"),
    (["--head", "linaer"], "Unknown head 'linaer'. Did you mean 'linear'?"),
    (["--dataset", "Corra"], "Unknown dataset 'Corra'. Did you mean 'Cora'?"),
    (["--pretrainer", "graphmea"], "Unknown pretrainer 'graphmea'. Did you mean 'graphmae'?"),
    (["--set", "pretrain.epochs"], "--set expects section.option=value, got 'pretrain.epochs'"),
    (["--set", "pretrain.epochs=abc"], "option 'epochs' expects int, got 'abc'"),
    (["--set", "pretrain.epoch=3"], "has no option 'epoch' (--set). Options: num_hidden, num_heads"),
    (["--set", "pretrain.num_hidden=30"], "num_hidden (30) must be divisible by num_heads (4)"),
    (["--set", "pretrain.norm=bogus"], "pretrainer 'graphmae' option 'norm' = 'bogus' is invalid (valid: one of none, "
                                       "layernorm, batchnorm)"),
    (["--set", "pretrain.feature_scaling=log"], "option 'feature_scaling' = 'log' is invalid (valid: one of none, row, "
                                                "standard)"),
    (["--device", "nonsense"], "Unknown device 'nonsense'"),
    (["--device", "cuda:99"], "Device 'cuda:99' asked for, but"),
    (["--slim", "custom", "--set", "slim.ratios=[0]"], "option 'ratios' = [0] is invalid (valid: list of float (0, 1])"),
    (["--slim", "custom", "--set", "slim.ratios=[1.5]"], "option 'ratios' = [1.5] is invalid"),
    (["--slim", "custom", "--set", "slim.ratios=[1,0.5]", "--set", "slim.layers=1"], "got 2 ratios for 1 kept layers"),
    (["--slim", "custom", "--set", "slim.ratios=[1,0.5,0.5]"], "got 3 ratios for 2 kept layers"),
    (["--slim", "custom", "--set", "slim.layers=3"], "this encoder has 2 layers; cannot keep 3"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, args, message):
    def no_training(*args, **kwargs):
        raise AssertionError("trained before the input was checked")

    monkeypatch.setattr(GraphMAE, "pretrain", no_training)
    store = tmp_path / "runs.sqlite"
    code = main(["run", "--preset", "quick", "--quiet", "--store", str(store), *TINY, *args])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.count("\n") == 1 and captured.err.startswith("slide-bench: error: ")
    assert message in captured.err
    assert "Traceback" not in captured.err + captured.out
    assert not store.exists() or rows(store) == []


def test_missing_data_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "data" / "ogbn_arxiv").mkdir(parents=True)  # a folder without ogb's files
    code = main(["run", "--dataset", "ogbn-arxiv", "--data-root", str(tmp_path / "data"), "--quiet",
                 "--store", str(tmp_path / "runs.sqlite"), *TINY])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("slide-bench: error: ") and "RELEASE_v1.txt" in err
    assert rows(tmp_path / "runs.sqlite") == []


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "plugins" in capsys.readouterr().out
