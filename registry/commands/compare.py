"""``slide-bench compare``: paired differences over pretraining seeds, with intervals, tests and a verdict."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Annotated

from registry.commands.common import add_format_argument, add_store_argument, checked, default_store
from registry.errors import ConfigError
from registry.hookspecs import hookimpl
from registry.options import Range
from registry.plugins import build_registry
from registry.store import ResultsStore


def run_compare(args: argparse.Namespace) -> int:
    import pandas as pd

    from registry.compare import compare, parse_selector, select, variance_breakdown
    from registry.tables import render

    df = ResultsStore(args.store or default_store(), read_only=True).frame()
    for key, column in (("dataset", "dataset"), ("pretrainer", "pretrainer")):
        if getattr(args, key):
            df = df[df[column].str.lower() == getattr(args, key).lower()]
    if args.metric is not None and len(df) and args.metric not in df.columns:
        known = sorted(c for c in df.columns if c.startswith(("test_", "val_")))
        raise ConfigError(f"--metric {args.metric} is not a stored metric; known: {', '.join(known)}")
    tasks = build_registry().tasks()
    comparisons = compare(df, args.a, args.b, args.metric, args.alpha, args.test, tasks=tasks)
    for comparison in comparisons:
        if comparison.warning:
            print(f"slide-bench: warning: {comparison.warning}", file=sys.stderr)
    both = pd.concat([select(df, parse_selector(args.a)), select(df, parse_selector(args.b))]).drop_duplicates("key")
    variance = variance_breakdown(both, args.metric, tasks)
    if args.format == "json":
        records = {"comparisons": [c.as_record() for c in comparisons],
                   "variance": json.loads(variance.to_json(orient="records"))}
        print(json.dumps(records, indent=2))
        return 0
    if args.format == "csv":  # one table of data: the comparisons, every number in its own column
        print("slide-bench: note: the variance breakdown is in the markdown and JSON output", file=sys.stderr)
        print(pd.DataFrame([c.as_record() for c in comparisons]).to_csv(index=False), end="")
        return 0
    metrics = ", ".join(dict.fromkeys(c.metric for c in comparisons))
    print(f"Paired comparison over pretraining seeds ({metrics}; A − B; the paired t-interval matches the "
          "paired t-test, the bootstrap interval resamples seeds):")
    print(render(pd.DataFrame([c.as_row() for c in comparisons]), args.format))
    print("\nWhere the spread comes from (share of variance from pretraining vs fine-tuning seeds):")
    print(render(variance.round(3), args.format))
    return 0


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("compare", help="paired comparison of two methods over pretraining seeds")
    p.add_argument("--a", required=True, help="method A, e.g. head=slide,slim=2-half")
    p.add_argument("--b", required=True, help="method B, e.g. head=full,slim=original or head.decorrelation=false")
    p.add_argument("--metric", default=None,
                   help="the score compared (default: the primary metric of the dataset's task, e.g. test_micro_f1 "
                        "for node classification, test_auc for link prediction)")
    p.add_argument("--alpha", type=checked(Annotated[float, Range(0, 1, low_open=True, high_open=True)]),
                   default=0.05, help="significance level of the verdict (default 0.05)")
    p.add_argument("--test", choices=("t", "wilcoxon"), default="t",
                   help="paired test deciding the verdict (both p-values are printed)")
    p.add_argument("--dataset", default=None, help="only this dataset (default: every dataset both methods ran on)")
    p.add_argument("--pretrainer", default=None, help="only this pretrainer (default: every one both methods used)")
    add_format_argument(p, what="tables", json_flag=True)
    add_store_argument(p)
    p.set_defaults(func=run_compare)
