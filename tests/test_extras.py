"""Optional extras: a feature whose package is missing fails with one line naming the extra to install."""

from __future__ import annotations

import sys

from registry.cli import main


def test_plot_without_matplotlib_names_the_plots_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    monkeypatch.delitem(sys.modules, "slide_plugin.plots", raising=False)
    assert main(["plot", "cka", "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'slide-bench[plots]'" in err[0]


def test_ogbn_arxiv_without_ogb_names_the_ogb_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ogb", None)
    code = main(["run", "--dataset", "ogbn-arxiv", "--preset", "quick", "--store", str(tmp_path / "s.sqlite"),
                 "--data-root", str(tmp_path / "data"), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'slide-bench[ogb]'" in err[0]
