"""``slide-bench bench``: run the pytest-benchmark suite and write a Markdown timing report.

The suite lives in ``benchmarks/`` of a source checkout (it is not installed with the package); the
command finds it next to the installed ``registry`` package (an editable install or a checkout) or
at ``--suite``. ``--from-json`` only renders the report of an earlier run.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

import registry
from registry.benchreport import load_targets, render_report
from registry.commands.common import Names, checked
from registry.errors import ConfigError, SlideBenchError
from registry.hookspecs import hookimpl
from registry.options import Count

DEFAULT_SUITE = Path(registry.__file__).resolve().parent.parent / "benchmarks"


def find_suite(explicit: Path | None) -> Path:
    suite = (explicit or DEFAULT_SUITE).resolve()
    if not (suite / "conftest.py").is_file():
        raise ConfigError(f"no benchmark suite at {suite}: 'slide-bench bench' runs benchmarks/ of a source "
                          "checkout (pip install -e .), or pass --suite PATH")
    return suite


def pytest_command(suite: Path, args: argparse.Namespace) -> list[str]:
    command = [sys.executable, "-m", "pytest", str(suite), "--benchmark-only", f"--benchmark-json={args.json}",
               f"--bench-datasets={','.join(args.datasets)}", f"--bench-devices={args.devices}", f"--bench-rounds={args.rounds}",
               f"--bench-encoders={args.encoders}", "-p", "no:cacheprovider", "-q"]
    if args.arxiv:
        command.append("--bench-arxiv")
    if args.threads:
        command.append(f"--bench-threads={args.threads}")
    return command + shlex.split(args.pytest_args)


def check_names(args: argparse.Namespace) -> None:
    """Datasets, devices and encoders that the suite would only fail on, after minutes of set-up."""
    from registry.plugins import build_registry

    registry = build_registry()
    for name in args.datasets:
        registry.get("dataset", name)
    for name in ([] if args.encoders == "all" else args.encoders.split(",")):
        registry.get("pretrainer", name.strip())
    devices = [d.strip() for d in args.devices.split(",")]
    bad = [d for d in devices if d not in ("auto", "cpu", "cuda") and not (d.startswith("cuda:") and d[5:].isdigit())]
    if bad or not devices:
        raise ConfigError(f"--devices {args.devices!r}: expected auto, or cpu and/or cuda[:N], comma-separated")


def bench(args: argparse.Namespace) -> int:
    rc = 0
    if args.from_json:
        args.json = args.from_json
        suite = args.suite or (DEFAULT_SUITE if (DEFAULT_SUITE / "targets.toml").is_file() else None)
    else:
        suite = find_suite(args.suite)
        check_names(args)
        args.json = args.json.resolve()
        command = pytest_command(suite, args)
        print("$", shlex.join(command), flush=True)
        rc = subprocess.call(command, cwd=suite.parent)
        if not args.json.is_file():
            raise SlideBenchError(f"the benchmark run wrote no {args.json} (pytest exit code {rc})")
    try:
        report = json.loads(Path(args.json).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read pytest-benchmark JSON {args.json}: {exc}") from None
    baselines, targets = {}, []
    targets_file = args.targets or (suite / "targets.toml" if suite else None)
    if targets_file and Path(targets_file).is_file():
        baselines, targets = load_targets(Path(targets_file).read_text())
    args.report.write_text(render_report(report, baselines, targets))
    print(f"timings: {args.json}\nreport: {args.report}")
    return rc


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("bench", help="run the timing benchmarks (source checkout) and write a Markdown report")
    p.add_argument("--datasets", action=Names, default=["Cora", "Computers"], help="datasets to time")
    p.add_argument("--arxiv", action="store_true", help="add a synthetic graph of ogbn-arxiv's size (slow on CPU)")
    p.add_argument("--devices", default="auto", help="cpu, cuda, or auto = cpu plus cuda when present (default)")
    p.add_argument("--rounds", type=checked(Count), default=5, help="timed rounds per benchmark (default: 5)")
    p.add_argument("--encoders", default="graphmae",
                   help="pretrainers whose encoders are fine-tuned, sliced, embedded ('all'; default: graphmae)")
    p.add_argument("--threads", type=checked(Count), default=None, help="torch CPU threads (default: torch's; 1 on a loaded machine)")
    p.add_argument("--json", type=Path, default=Path("slide-bench-timings.json"), help="pytest-benchmark JSON output")
    p.add_argument("--report", type=Path, default=Path("slide-bench-timings.md"), help="Markdown report output")
    p.add_argument("--from-json", type=Path, default=None, help="render the report of an earlier run; run nothing")
    p.add_argument("--suite", type=Path, default=None, help=f"benchmark suite folder (default: {DEFAULT_SUITE})")
    p.add_argument("--targets", type=Path, default=None, help="baselines and targets TOML (default: SUITE/targets.toml)")
    p.add_argument("--pytest-args", default="", help="more pytest arguments, e.g. \"-k finetune --benchmark-autosave\"")
    p.set_defaults(func=bench)
