"""``slide-bench table [SPEC]``: the store's results as the paper's tables (Markdown, CSV, JSON, LaTeX).

With a spec, only its runs are shown, with its row labels; without one, everything in the store.
"""

from __future__ import annotations

import argparse
from typing import Annotated

from registry.commands.common import (add_format_argument, add_names_argument, add_store_argument, checked,
                                     default_store)
from registry.errors import ConfigError
from registry.hookspecs import hookimpl
from registry.options import Range
from registry.plugins import build_registry
from registry.registry import normalize
from registry.runner import Runner
from registry.spec import MatrixSpec
from registry.store import ResultsStore


def table(args: argparse.Namespace) -> int:
    from registry.compare import significance_marker
    from registry.tables import load_reference, paper_tables, render_tables

    store = ResultsStore(args.store or default_store(), read_only=True)
    label = lambda slimmer, head: None  # noqa: E731
    keys, percent_of = None, None
    registry = build_registry()
    if args.spec:
        spec = MatrixSpec.load(args.spec, registry)
        planned = Runner(registry, store, None, None).plan(spec.cells(registry), force=True)[0]
        labels = spec.group_labels(registry)
        keys = [r.key for r in planned]
        row_labels = {r.key: labels[r.cell] for r in planned if r.cell in labels}
        label, percent_of = spec.label, spec.percent_of
    df = store.frame(keys)
    if keys is not None:
        df = df.assign(row_label=df["key"].map(row_labels)) if len(df) else df
    for column, wanted in (("dataset", args.datasets), ("pretrainer", args.pretrainers)):
        if wanted:
            unmatched = [w for w in wanted if len(df) and not (df[column].map(normalize) == normalize(w)).any()]
            if unmatched:
                raise ConfigError(f"--{column}s {', '.join(unmatched)} matches no run in {store.path} (it holds "
                                  f"{', '.join(sorted(set(df[column])))})")
            df = df[df[column].map(normalize).isin({normalize(w) for w in wanted})]
    missing = [m for m in args.metric or () if m not in df.columns]
    if len(df) and missing:
        known = sorted(c for c in df.columns if df[c].dtype.kind in "fi" and c not in ("seed", "finetune_seed"))
        raise ConfigError(f"Unknown metric(s) {', '.join(missing)}. Known: {', '.join(known)}")
    reference = load_reference() if args.vs_reference else None
    mark = significance_marker(df, args.mark_vs, args.alpha) if args.mark_vs else None
    tables = paper_tables(df, args.metric, label, reference, mark, registry.tasks(), percent_of)
    if mark is not None:
        for table in tables:
            table.notes.append(f"▲ / ▼: better / worse than {args.mark_vs} (paired t over pretraining seeds, "
                               f"α = {args.alpha}); =: no detectable difference")
    print(render_tables(tables, args.format), end="")
    return 0


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("table", help="print results as the paper's tables (rows = method, columns = dataset)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("spec", nargs="?", default=None, help="only this spec's runs, with its row labels")
    add_format_argument(p, json_flag=True)
    p.add_argument("--vs-reference", action="store_true",
                   help="show published baselines and derived parameter changes beside ours, with their sources")
    add_names_argument(p, "--datasets", "only these datasets (default: all)", old="--dataset")
    add_names_argument(p, "--pretrainers", "only these pretrainers (default: all)", old="--pretrainer")
    p.add_argument("--metric", nargs="+", default=None,
                   help="metric columns under each dataset (default: each task's, e.g. test_micro_f1 test_macro_f1 "
                        "for node classification, test_auc test_ap for link prediction)")
    p.add_argument("--mark-vs", default=None, metavar="METHOD",
                   help="mark cells significantly better (▲) or worse (▼) than this method, e.g. head=full,slim=original")
    p.add_argument("--alpha", type=checked(Annotated[float, Range(0, 1, low_open=True, high_open=True)]),
                   default=0.05, help="significance level of --mark-vs (default 0.05)")
    add_store_argument(p)
    p.set_defaults(func=table)
