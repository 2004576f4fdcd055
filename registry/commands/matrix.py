"""``slide-bench matrix SPEC``: every cell of a matrix spec, resumably, into the results store.

Every cell is resolved before any training (an unknown name fails at once, listing the known
ones); finished cells are skipped, so an interrupted matrix resumes where it stopped. SIGTERM is
handled like Ctrl-C: finished rows stay in the store. ``--executor`` picks where cells run (this
process, a worker pool, Ray, SLURM); workers claim cells in the store, so matrices started at the
same time on one store split the work.
"""

from __future__ import annotations

import argparse
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry.commands.common import (DATA_FORMATS, add_format_argument, add_names_argument, add_run_arguments,
                                     checked, make_runner, notes_to_stderr, report_failures)
from registry.config import parse_sets, resolve_options
from registry.errors import ConfigError
from registry.executors.base import WorkerContext
from registry.executors.driver import drive
from registry.executors.worker import prime
from registry.hookspecs import hookimpl
from registry.options import PositiveFloat
from registry.plugins import get_plugin_manager, recipe_of
from registry.runner import Resolved, Runner
from registry.spec import MatrixSpec, filter_cells, shipped_specs

if TYPE_CHECKING:
    import pandas as pd


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def executor_options(args: argparse.Namespace, spec: MatrixSpec) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The executor's name, option values (the spec's ``[executor]``, then the command line) and where
    each value came from, as the user wrote it (for the errors about it)."""
    table = spec.executor
    options = {k: v for k, v in table.items() if k != "name"}
    origins = dict.fromkeys(options, f"spec '{spec.name}' [executor]")
    for item in args.executor_set:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--executor-set expects option=value, got '{item}'")
        options[key.strip()], origins[key.strip()] = value.strip(), "--executor-set"
    for flag, key, value in (("--workers", "workers", args.workers), ("--ray-address", "address", args.ray_address)):
        if value is not None:
            options[key], origins[key] = value, flag
    return args.executor or table.get("name", "local"), options, origins


def matrix(args: argparse.Namespace) -> int:
    with notes_to_stderr(args.format):
        runner = make_runner(args)
        spec = MatrixSpec.load(args.spec, runner.registry)
        sets = {section: values for section, values in parse_sets(args.set).items() if values}
        cells = filter_cells(spec.cells(runner.registry, sets), args.only, args.skip)
        resolved, todo = runner.plan(cells, force=args.force)
        name, options, origins = executor_options(args, spec)
        executor = runner.registry.get("executor", name)
        options = resolve_options(executor, "", "", "official", options, origins=origins)
        device = runner.device if todo and not args.dry_run else runner.device_spec  # nothing to run: no torch
        where = f" on {device}" if todo else ""
        if todo and executor.name != "local":
            where = f" on {executor.name} ({device} here)"
        print(f"matrix '{spec.name}': {len(resolved)} runs, {len(resolved) - len(todo)} already in the store, "
              f"{len(todo)} to run{where} (store: {runner.store.path})", flush=True)
        if not args.dry_run:
            df = _run(args, runner, spec, resolved, todo, executor, options)
    if args.dry_run:
        _print_plan(todo, args.format)
        return 0
    from registry.tables import paper_tables, render_tables

    labels = spec.group_labels(runner.registry, sets)
    row_labels = {r.key: labels[r.cell] for r in resolved if r.cell in labels}
    df = df.assign(row_label=df["key"].map(row_labels)) if len(df) else df
    tables = paper_tables(df, label=spec.label, tasks=runner.registry.tasks(), percent_of=spec.percent_of)
    print(render_tables(tables, args.format), end="")
    return report_failures(df)


def _run(args: argparse.Namespace, runner: Runner, spec: MatrixSpec, resolved: list[Resolved], todo: list[Resolved],
         executor: Any, options: dict[str, Any]) -> pd.DataFrame:
    """Run what is left of the matrix; its rows from the store."""
    for item in todo:  # bad input stops here, before any training
        runner.check(item)
    context = WorkerContext(str(runner.store.path.resolve()), str(runner.cache.directory.resolve()),
                            str(Path(args.data_root).resolve()) if args.data_root else None, args.device,
                            args.threads, args.force, args.claim_ttl,
                            recipe_of(get_plugin_manager()))
    prime(context, runner)
    signal.signal(signal.SIGTERM, _interrupt)
    start = time.perf_counter()
    if todo:
        runner.cache.check_writable()
        backend = executor.open(options, context)  # a bad executor setting fails here, before the store exists
        runner.store.create()  # the workers' claims live in the store file
        drive(runner, todo, backend, context, tagged=executor.name != "local")
    df = runner.store.frame(keys=[r.key for r in resolved])
    counts = df["status"].value_counts().to_dict()
    print(f"matrix '{spec.name}' done in {time.perf_counter() - start:.1f}s: "
          + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())), flush=True)
    return df


def _print_plan(todo: list[Resolved], fmt: str) -> None:
    """The runs still to do: one label a line, or as CSV / JSON records."""
    if fmt not in DATA_FORMATS:
        print("".join(f"  {item.cell.label}\n" for item in todo), end="")
        return
    import pandas as pd

    rows = pd.DataFrame([{"dataset": item.config["dataset"], **{kind: item.config[kind]["name"] for kind in
                          ("pretrainer", "slimmer", "head")}, "seed": item.cell.seed,
                          "finetune_seed": item.cell.finetune_seed, "key": item.key} for item in todo],
                        columns=["dataset", "pretrainer", "slimmer", "head", "seed", "finetune_seed", "key"])
    print(rows.to_csv(index=False) if fmt == "csv" else rows.to_json(orient="records", indent=2))


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("matrix", help="run a matrix spec (pretrainer × slimmer × head × dataset × seed), resumably",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("spec", help=f"a spec file, or a spec's name (slide-bench specs): {', '.join(shipped_specs())}, ...")
    add_names_argument(p, "--only", "keep only cells with these names on their axis (or axis=value)", default=[])
    add_names_argument(p, "--skip", "drop cells with these names on any axis (or axis=value)", default=[])
    p.add_argument("--set", action="append", default=[], metavar="SECTION.OPTION=VALUE",
                   help="override an option in every cell, after the spec's own values")
    p.add_argument("--dry-run", action="store_true", help="list the runs still to do and exit")
    add_format_argument(p, what="final table (with --dry-run: the runs still to do)", json_flag=True)
    p.add_argument("--executor", default=None, metavar="NAME",
                   help="where cells run: local (default), pool, ray, slurm, or a plugin's (spec: [executor] name)")
    p.add_argument("--workers", type=int, default=None, help="pool: worker processes; ray: CPUs of a local instance")
    p.add_argument("--ray-address", default=None, help="ray: a running cluster's address (default: a local instance)")
    p.add_argument("--executor-set", action="append", default=[], metavar="OPTION=VALUE",
                   help="an executor option, e.g. gpus_per_run=0.25, partition=gpu, sbatch='{\"qos\": \"high\"}'")
    p.add_argument("--claim-ttl", type=checked(PositiveFloat), default=120.0, metavar="SECONDS",
                   help="a claim on a cell expires this long after its worker's last heartbeat (default: 120)")
    add_run_arguments(p)
    p.set_defaults(func=matrix)
