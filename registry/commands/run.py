"""``slide-bench run``: one combination over seeds, printed as a table of mean ± std."""

from __future__ import annotations

import argparse
import json
import sys

from registry.commands.common import (DATA_FORMATS, add_format_argument, add_run_arguments, make_runner,
                                     notes_to_stderr, report_failures)
from registry.config import PRESETS, SECTIONS, parse_sets
from registry.hookspecs import hookimpl
from registry.runner import Cell


def run(args: argparse.Namespace) -> int:
    from registry.tables import render, summary, summary_data

    with notes_to_stderr(args.format):
        runner = make_runner(args)
        sets = parse_sets(args.set)
        triples = tuple((section, option, value) for section in SECTIONS for option, value in sets[section].items())
        slim = args.slim if args.slim is not None else runner.registry.get("head", args.head).default_slimmer
        cells = [Cell(args.dataset, args.pretrainer, slim, args.head, seed, ft_seed, args.preset, triples)
                 for seed in args.seeds for ft_seed in args.finetune_seeds]
        planned, todo = runner.plan(cells, force=args.force)
        if len(todo) < len(planned):
            print(f"{len(planned) - len(todo)} of {len(planned)} runs reused from the store (use --force to rerun)",
                  file=sys.stderr)
        resolved = runner.run(cells, force=args.force)
        if args.show_config:
            print("Resolved configuration:")
            print(json.dumps({k: v for k, v in resolved[0].config.items() if k not in ("seed", "finetune_seed")},
                             indent=2))
    df = runner.store.frame(keys=[r.key for r in resolved])
    if args.format in DATA_FORMATS:
        frame = summary_data(df, tasks=runner.registry.tasks())
        print(frame.to_csv(index=False) if args.format == "csv" else frame.to_json(orient="records", indent=2))
    else:
        print(render(summary(df, runner.registry.tasks()), args.format))
    return report_failures(df)


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("run", help="pretrain → slim → fine-tune one combination over seeds")
    p.add_argument("--dataset", default="Cora", help="dataset name")
    p.add_argument("--pretrainer", default="graphmae", help="self-supervised pretrainer")
    p.add_argument("--slim", default=None, help="slimming strategy (default: the head's default, e.g. original)")
    p.add_argument("--head", default="linear", help="fine-tune head")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="pretraining seeds")
    p.add_argument("--finetune-seeds", type=int, nargs="+", default=[0], help="fine-tuning seeds")
    p.add_argument("--preset", choices=PRESETS, default="official",
                   help="official per-dataset settings, or quick (a few epochs: smoke runs)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.OPTION=VALUE",
                   help="override an option, e.g. --set pretrain.epochs=50 (sections: pretrain, slim, head)")
    add_format_argument(p, json_flag=True)
    p.add_argument("--show-config", action="store_true", help="also print the resolved configuration (JSON)")
    add_run_arguments(p)
    p.set_defaults(func=run)
