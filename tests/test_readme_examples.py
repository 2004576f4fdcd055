"""The README's "Writing a plugin" examples are complete and short, and work as a third party would use
them: installed as a package (a faked distribution with entry points, as pytest's own tests fake them),
in a matrix with every built-in slimmer and head, and tested with ``registry.testing`` as the README shows."""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

from registry.cli import main
from registry.store import ResultsStore
from registry.testing import environment_plugins

README = Path(__file__).resolve().parents[1] / "README.md"
KINDS = ("slimmer", "encoder", "pretrainer", "head", "dataset")


def example(marker: str) -> str:
    match = re.search(rf"<!-- example-{marker} -->\s*```python\n(.*?)```", README.read_text(), re.S)
    assert match, f"README lost its {marker} example"
    return match.group(1)


@pytest.mark.parametrize("marker", [*KINDS, "test"])
def test_each_example_is_short(marker):
    """Non-blank lines, imports and hook included: slimmer 15, encoder 20, pretrainer 20, head 21, dataset 16,
    test 11 (the toolkit carries the loops: registry.training.minimise, FitTracker.epochs/optimise)."""
    assert len([line for line in example(marker).splitlines() if line.strip()]) <= 21


def write_package(root: Path) -> dict[str, str]:
    """The examples as the modules of a package ``acme_slide`` under ``root``; returns its entry points."""
    package = root / "acme_slide"
    package.mkdir(parents=True)
    modules = {"important": example("slimmer"), "smooth": example("encoder") + example("pretrainer"),
               "probe": example("head"), "blocks": example("dataset")}
    (package / "__init__.py").write_text("")
    for name, code in modules.items():
        (package / f"{name}.py").write_text(code)
    return {f"acme_{name}": f"acme_slide.{name}" for name in modules}


class FakeDist(importlib.metadata.Distribution):
    """An installed distribution ``acme-slide`` with these ``slide_bench`` entry points, as
    importlib.metadata reads it from its METADATA and entry_points.txt files."""

    def __init__(self, points: dict[str, str]):
        self.files_text = {"METADATA": "Metadata-Version: 2.1\nName: acme-slide\nVersion: 0.0.1\n",
                           "entry_points.txt": "[slide_bench]\n" + "".join(f"{n} = {v}\n" for n, v in points.items())}

    def read_text(self, filename: str) -> str | None:
        return self.files_text.get(filename)

    def locate_file(self, path):
        return Path(path)


SPEC = """description = "the README's plugin with every built-in slimmer and head"
datasets = ["blocks"]
pretrainers = ["smooth"]
preset = "quick"

[[group]]
slimmers = ["*"]
heads = ["*"]

[[group]]
pretrainers = ["graphmae", "grace", "maskgae"]
slimmers = ["important-half"]
heads = ["standard-probe"]

[[group]]
slimmers = ["quarter"]
heads = ["linear"]
label = "quarter, by weight norm"
[group.set]
slim.selection = "norm"
"""


@pytest.fixture
def acme(tmp_path, monkeypatch):
    """The README's examples installed as the package acme-slide (outside the repository)."""
    points = write_package(tmp_path / "acme")
    monkeypatch.syspath_prepend(str(tmp_path / "acme"))
    installed = [importlib.metadata.distribution("slide-bench"), FakeDist(points)]
    monkeypatch.setattr(importlib.metadata, "distributions", lambda: iter(installed))
    monkeypatch.setenv("SLIDE_BENCH_LOAD_PLUGINS", ",".join(["slide_plugin", *points]))
    yield tmp_path
    for name in [m for m in sys.modules if m == "acme_slide" or m.startswith("acme_slide.")]:
        del sys.modules[name]


def test_examples_installed_work_with_every_builtin_slimmer_and_head(acme, capsys):
    (acme / "acme.toml").write_text(SPEC)
    store = acme / "runs.sqlite"
    with environment_plugins():
        code = main(["matrix", str(acme / "acme.toml"), "--store", str(store), "--quiet", "--threads", "1"])
    out = capsys.readouterr()
    assert code == 0, out.err
    runs = ResultsStore(store).frame()
    assert (runs["status"] == "ok").all() and len(runs) == 8 * 8 + 3 + 1
    smooth = runs[runs["pretrainer"] == "smooth"]
    builtin_slimmers = {"original", "half", "quarter", "2-original", "2-half", "2-quarter", "custom"}
    assert set(smooth["slimmer"]) == builtin_slimmers | {"important-half"}
    assert set(smooth["head"]) == {"linear", "full", "slide", "slide-wo-de", "slide-class-mass", "lora", "slide-lora",
                                   "standard-probe"}
    assert set(runs[runs["slimmer"] == "important-half"]["pretrainer"]) == {"smooth", "graphmae", "grace", "maskgae"}
    half = smooth[(smooth["slimmer"] == "important-half") & (smooth["head"] == "linear")]["param_change_pct"]
    assert half.iloc[0] == smooth[(smooth["slimmer"] == "half") & (smooth["head"] == "linear")]["param_change_pct"].iloc[0]
    selections = {c["slimmer"]["options"].get("selection") for c in runs["config"]}
    assert "norm" in selections


def test_slimmer_example_keeps_the_largest_norms(acme):
    importlib.import_module("acme_slide")
    smooth, important = importlib.import_module("acme_slide.smooth"), importlib.import_module("acme_slide.important")
    import torch

    torch.manual_seed(0)
    encoder = smooth.MeanEncoder([6, 8, 4])
    slim = important.ImportantHalf().slim(encoder, None, seed=0)
    norms = encoder.layers[0].weight.norm(dim=1)
    kept = norms.topk(4).indices.sort().values
    assert torch.equal(slim.layers[0].weight, encoder.layers[0].weight[kept])
    assert torch.equal(slim.layers[1].weight, encoder.layers[1].weight[slim_rows(encoder, 1)][:, kept])
    x, edges = torch.randn(5, 6), torch.tensor([[0, 1, 2], [1, 2, 3]])
    assert slim(x, edges).shape == (5, 2)


def slim_rows(encoder, index: int):
    return encoder.layers[index].weight.norm(dim=1).topk(2).indices.sort().values


def test_testing_example_passes(tmp_path, monkeypatch):
    (tmp_path / "smooth.py").write_text(example("encoder") + example("pretrainer"))
    (tmp_path / "test_smooth.py").write_text(example("test"))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        module = importlib.import_module("test_smooth")
        (tmp_path / "bench").mkdir()
        module.test_smooth_works_with_every_builtin_head(tmp_path / "bench")
        assert len(ResultsStore(tmp_path / "bench" / "results.sqlite").frame()) == 4
    finally:
        for name in ("test_smooth", "smooth"):
            sys.modules.pop(name, None)


def test_every_hook_is_named_in_the_writing_a_plugin_section():
    from registry import hookspecs

    section = README.read_text().split("## Writing a plugin", 1)[1].split("\n## ", 1)[0]
    hooks = [name for name, fn in vars(hookspecs).items() if hasattr(fn, f"{hookspecs.PROJECT}_spec")]
    assert hooks and [h for h in hooks if f"`{h}" not in section and f"{h}(" not in section] == []
