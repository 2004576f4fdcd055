"""Sub-commands of the redundancy analysis (their work is done in :mod:`slide_plugin.analysis`,
imported when one runs, so that the command line starts without loading torch):

- ``slide-bench analyze cka``: CKA of slim models with the original, and of adjacent layers (Figures 2, 3);
- ``slide-bench analyze params``: parameter counts per slimming strategy (Tables 8, 9);
- ``slide-bench plot cka|adjacent|params``: the figures, from the records in the results store;
- ``slide-bench plot decorrelation``: SLIDE's weight diagnostics per epoch, from the stored runs;
- ``slide-bench study-report``: the SLIDE study's page (``docs/slide-study.md``) from the stored runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Annotated

from registry import Count
from registry.commands.common import (add_format_argument, add_names_argument, add_run_arguments, add_store_argument,
                                     checked)
from registry.config import PRESETS
from registry.options import Range

KINDS = {"cka": "cka_slim", "adjacent": "cka_adjacent", "params": "params"}


def analyze_cka(args: argparse.Namespace) -> int:
    from slide_plugin import analysis

    return analysis.analyze_cka(args)


def analyze_params(args: argparse.Namespace) -> int:
    from slide_plugin import analysis

    return analysis.analyze_params(args)


def plot(args: argparse.Namespace) -> int:
    from slide_plugin import analysis

    return analysis.plot(args)


def study_report(args: argparse.Namespace) -> int:
    from slide_plugin import study

    return study.study_report(args)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", choices=PRESETS, default="official", help="official settings, or quick (smoke runs)")
    add_format_argument(p)
    p.add_argument("--csv", type=Path, default=None, help="also write the records to this CSV file")


def register_commands(subparsers: argparse._SubParsersAction) -> None:
    analyze = subparsers.add_parser("analyze", help="redundancy analysis: CKA and parameter counts")
    sub = analyze.add_subparsers(dest="analysis", metavar="ANALYSIS", required=True)

    p = sub.add_parser("cka", help="CKA slim vs original per layer over removal rates, and adjacent layers (Figs 2, 3)")
    p.add_argument("--dataset", default="Cora", help="dataset name")
    p.add_argument("--pretrainer", default="graphmae", help="self-supervised pretrainer")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="pretraining seeds")
    p.add_argument("--rates", type=checked(Annotated[float, Range(0, 1, high_open=True)]), nargs="+", default=None,
                   help="shares of neurons removed (default: 0.0 0.1 ... 0.9)")
    p.add_argument("--selection", default="stride", help="which neurons are kept: a selection rule (stride, random, ...)")
    p.add_argument("--max-nodes", type=checked(Count), default=10_000, help="CKA on the first N nodes (paper: 10,000)")
    p.add_argument("--set", action="append", default=[], metavar="pretrain.OPTION=VALUE",
                   help="override a pretraining option")
    _common(p)
    p.epilog = "--csv PATH writes PATH (slim vs original) and PATH_adjacent.csv."
    add_run_arguments(p)
    p.set_defaults(func=analyze_cka)

    p = sub.add_parser("params", help="GNN (frozen) and Linear (fine-tuned) parameters per slimming strategy (Tables 8, 9)")
    add_names_argument(p, "--datasets", "datasets (default: every registered dataset that loads)")
    add_names_argument(p, "--pretrainers", "pretrainers (default: every registered pretrainer)")
    add_names_argument(p, "--slimmers", "slimming strategies (default: every registered strategy but 'custom')")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.OPTION=VALUE",
                   help="pretrain.* or slim.* options")
    p.add_argument("--data-root", default=None, help="dataset root (default: $SLIDE_DATA_ROOT or the user cache)")
    _common(p)
    add_store_argument(p)
    p.set_defaults(func=analyze_params)

    p = subparsers.add_parser("plot", help="figures of the redundancy analysis (PNG and PDF) from the results store")
    p.add_argument("figure", choices=[*KINDS, "decorrelation"],
                   help="cka (Fig. 2), adjacent (Fig. 3), params (Fig. 6) or decorrelation (SLIDE's weight diagnostics)")
    p.add_argument("--out", type=Path, default=Path("figures"), help="output folder (default: ./figures)")
    p.add_argument("--preset", choices=PRESETS, default="official", help="which records to plot")
    p.add_argument("--selection", default="stride", help="cka: records of this neuron selection rule")
    add_names_argument(p, "--datasets", "only these datasets (default: all)")
    add_names_argument(p, "--pretrainers", "only these pretrainers (default: all)")
    add_names_argument(p, "--slimmers", "params: strategies to draw (default: original = FT, 2-half = SLIDE)",
                       default=["original", "2-half"])
    add_names_argument(p, "--heads", "decorrelation: only these heads (default: all)")
    add_format_argument(p, what="decorrelation summary")
    add_store_argument(p)
    p.set_defaults(func=plot)

    p = subparsers.add_parser("study-report", help="the SLIDE study's results page (verdict per claim) from the store")
    p.add_argument("--spec", default="slide-study", help="spec of the official-settings study (default: slide-study)")
    p.add_argument("--tuned-spec", nargs="+", default=None, metavar="SPEC",
                   help="specs of the tuned-settings study (`slide-bench tune --out`), their groups labelled as the "
                        "official spec's (LP, Half LP, FT, SLIDE, SLIDE (standardised), SLIDE w/o de (same loop), "
                        "SLIDE w/o de (paper))")
    p.add_argument("--out", type=Path, default=None, help="write the page here (default: print it)")
    p.add_argument("--figures", type=Path, default=None, metavar="FOLDER",
                   help="also draw the SLIDE runs' weight diagnostics (raw vs standardised) into FOLDER, linked from the page")
    p.add_argument("--alpha", type=checked(Annotated[float, Range(0, 1, low_open=True, high_open=True)]),
                   default=0.05, help="significance level of the paired t-tests (default: 0.05)")
    add_store_argument(p)
    p.set_defaults(func=study_report)
