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


def test_a_rerun_of_the_main_job_with_everything_stored_loads_no_torch(tmp_path):
    """`slide-bench matrix quick` when the store holds all its runs: it plans, finds nothing to do and
    prints the table without importing torch (regression: resolving the device loaded it)."""
    from registry.plugins import build_registry
    from registry.runner import Runner
    from registry.spec import MatrixSpec
    from registry.store import ResultsStore

    registry, store = build_registry(), ResultsStore(tmp_path / "runs.sqlite")
    planned, _ = Runner(registry, store, None, None).plan(MatrixSpec.load("quick", registry).cells(registry))
    for item in planned:
        config = item.config
        store.write(dict(key=item.key, status="ok", dataset=config["dataset"], pretrainer=config["pretrainer"]["name"],
                         slimmer=config["slimmer"]["name"], head=config["head"]["name"], seed=item.cell.seed,
                         finetune_seed=item.cell.finetune_seed, preset="quick", config=config, diagnostics=[],
                         metrics={"test_micro_f1": 50.0, "test_macro_f1": 40.0, "val_micro_f1": 50.0,
                                  "trainable_params": 10, "total_params": 10, "param_change_pct": 0.0},
                         error=None, device="cpu", versions={}, wall_time_s=1.0, peak_memory_mb=None))
    code = ("import contextlib, io\nfrom registry.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            f"    assert main(['matrix', 'quick', '--store', {str(store.path)!r}]) == 0\n"
            f"assert '{len(planned)} already in the store, 0 to run' in out.getvalue(), out.getvalue()")
    assert "torch" not in heavy_modules_after(code)
