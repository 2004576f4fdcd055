"""Start-up stays light: the command line parses, helps and lists plugins without loading the heavy
libraries, which load when a component actually runs (timings: ``benchmarks/test_startup.py``)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "torch_geometric", "torchmetrics", "pandas", "matplotlib", "scipy", "ogb")


def heavy_modules_after(code: str) -> set[str]:
    """The heavy top-level packages imported by a fresh interpreter that runs ``code``."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_importing_the_cli_loads_no_heavy_library():
    assert heavy_modules_after("import registry.cli; registry.cli.build_parser()") == set()


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["matrix", "--help"], ["analyze", "cka", "--help"],
                                  ["describe", "--help"], ["specs", "--help"]])
def test_help_loads_no_heavy_library(argv):
    code = f"from registry.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"
    assert heavy_modules_after(code) == set()


def test_listing_plugins_and_resolving_components_loads_no_torch():
    """`plugins` and option resolution (what a no-op rerun does) need the components' declarations
    only; their models and training loops load when a run starts."""
    code = ("import contextlib, io\nfrom registry.cli import main\nfrom registry.plugins import build_registry\n"
            "from registry.config import resolve_options\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    assert main(['plugins']) == 0\n"
            "registry = build_registry()\n"
            "for kind in ('pretrainer', 'slimmer', 'head'):\n"
            "    for name in registry.names(kind):\n"
            "        resolve_options(registry.get(kind, name), 'Cora', 'graphmae', 'official', {})")
    assert heavy_modules_after(code) <= {"pandas"}
