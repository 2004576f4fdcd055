"""``slide-bench matrix SPEC``: every cell of a matrix spec, resumably, into the results store.

Every cell is resolved before any training (an unknown name fails at once, listing the known
ones); finished cells are skipped, so an interrupted matrix resumes where it stopped. SIGTERM is
handled like Ctrl-C: finished rows stay in the store.
"""

from __future__ import annotations

import argparse
import signal
import time
from typing import Any

from registry.commands.common import add_format_argument, add_names_argument, add_run_arguments, make_runner, report_failures
from registry.config import parse_sets
from registry.hookspecs import hookimpl
from registry.spec import MatrixSpec, filter_cells, shipped_specs


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def matrix(args: argparse.Namespace) -> int:
    from registry.tables import paper_tables, render_tables

    runner = make_runner(args)
    spec = MatrixSpec.load(args.spec, runner.registry)
    sets = {section: values for section, values in parse_sets(args.set).items() if values}
    cells = filter_cells(spec.cells(runner.registry, sets), args.only, args.skip)
    resolved, todo = runner.plan(cells, force=args.force)
    where = f" on {runner.device}" if todo else ""
    print(f"matrix '{spec.name}': {len(resolved)} runs, {len(resolved) - len(todo)} already in the store, "
          f"{len(todo)} to run{where} (store: {runner.store.path})", flush=True)
    if args.dry_run:
        for item in todo:
            print(f"  {item.cell.label}")
        return 0
    signal.signal(signal.SIGTERM, _interrupt)
    start = time.perf_counter()
    runner.run(cells, force=args.force)
    df = runner.store.frame(keys=[r.key for r in resolved])
    counts = df["status"].value_counts().to_dict()
    print(f"matrix '{spec.name}' done in {time.perf_counter() - start:.1f}s: "
          + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())), flush=True)
    print(render_tables(paper_tables(df, label=spec.label), args.format), end="")
    return report_failures(df)


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
    add_format_argument(p, what="final table")
    add_run_arguments(p)
    p.set_defaults(func=matrix)
