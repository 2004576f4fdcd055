"""What the redundancy sub-commands do (their command lines are in :mod:`slide_plugin.commands`):
CKA and parameter analyses into the results store, and figures from it."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import pandas as pd

from registry.cache import config_hash
from registry.commands.common import default_store, make_runner
from registry.config import options_dict, parse_sets, resolve_options
from registry.datasets import load_dataset
from registry.errors import ConfigError, DataError, require_extra
from registry.graphs import as_one_graph
from registry.plugins import build_registry
from registry.registry import normalize
from registry.runner import Cell
from registry.slimming import selection_rule
from registry.store import ResultsStore
from registry.tables import mean_std, render
from slide_plugin.redundancy import RATES, adjacent_layers, parameter_rows, slim_vs_original

from slide_plugin.commands import KINDS
IDENTITY = {  # fields that identify one value of each analysis: later records replace earlier ones
    "cka_slim": ["dataset", "pretrainer", "seed", "selection", "scope", "rate", "layer"],
    "cka_adjacent": ["dataset", "pretrainer", "seed", "source", "target"],
    "params": ["dataset", "pretrainer", "slimmer"],
}


def _stored(store: ResultsStore, kind: str, key: str) -> list[dict[str, Any]]:
    df = store.records(kind)
    return [] if df.empty else df[df["key"] == key].drop(columns="key").to_dict("records")


def analyze_cka(args: argparse.Namespace) -> int:
    runner = make_runner(args)
    sets = parse_sets(args.set)
    if sets["slim"] or sets["head"]:
        raise ConfigError("analyze cka takes pretrain.* options only (--set pretrain.OPTION=VALUE)")
    try:
        selection_rule(args.selection)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    triples = tuple(("pretrain", option, value) for option, value in sets["pretrain"].items())
    args.rates = args.rates or list(RATES)
    task = runner.registry.get("dataset", args.dataset).task  # any head of the task: only the encoder is used
    head = next((name for name in runner.registry.names("head") if task in runner.registry.get("head", name).tasks), "linear")
    slim_rows, adjacent_rows = [], []
    for seed in args.seeds:
        resolved = runner.resolve(Cell(args.dataset, args.pretrainer, head=head, seed=seed, preset=args.preset,
                                       sets=triples))
        pretrainer = resolved.config["pretrainer"]  # name, version, options: what keys the encoder cache
        base = dict(dataset=resolved.config["dataset"], pretrainer=pretrainer["name"], seed=seed,
                    pretrainer_version=pretrainer["version"], preset=args.preset, max_nodes=args.max_nodes)
        config = dict(base, pretrainer_options=pretrainer["options"])
        slim_config = dict(config, analysis="cka_slim", rates=args.rates, selection=args.selection)
        slim_key, adjacent_key = config_hash(slim_config), config_hash(dict(config, analysis="cka_adjacent"))
        slim = [] if args.force else _stored(runner.store, "cka_slim", slim_key)
        adjacent = [] if args.force else _stored(runner.store, "cka_adjacent", adjacent_key)
        if not (slim and adjacent):
            start = time.perf_counter()
            encoder, data, cached, _ = runner.pretrained(resolved)
            data = as_one_graph(data)  # a graph-classification set: the nodes of all its graphs
            x, edge_index = data.x.to(runner.device), data.edge_index.to(runner.device)
            slim = [dict(base, selection=args.selection, **r) for r in
                    slim_vs_original(encoder, x, edge_index, args.rates, args.selection, seed, args.max_nodes)]
            adjacent = [dict(base, **r) for r in adjacent_layers(encoder, x, edge_index, args.max_nodes)]
            runner.store.write_records("cka_slim", slim_key, slim_config, slim)
            runner.store.write_records("cka_adjacent", adjacent_key, dict(config, analysis="cka_adjacent"), adjacent)
            print(f"seed {seed}: encoder {'from the cache' if cached else 'pretrained now'}, "
                  f"CKA on {min(data.num_nodes, args.max_nodes)} nodes in {time.perf_counter() - start:.1f}s",
                  file=sys.stderr)
        slim_rows += slim
        adjacent_rows += adjacent
    slim_df, adjacent_df = pd.DataFrame(slim_rows), pd.DataFrame(adjacent_rows)
    print(f"CKA with the original, same layer, all layers slimmed ({args.selection} selection; mean ± std over "
          f"seeds {' '.join(map(str, args.seeds))}):")
    table = slim_df[slim_df["scope"] == "all"].groupby(["rate", "layer"])["cka"].apply(lambda v: mean_std(v, 4))
    print(render(table.unstack("layer").rename(columns=lambda l: f"layer {l}").reset_index(), args.format))
    print("\nCKA between adjacent layers of the original (0 = input features):")
    pairs = adjacent_df.groupby(["source", "target"])["cka"].apply(lambda v: mean_std(v, 4)).reset_index()
    print(render(pairs, args.format))
    if args.csv:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        slim_df.to_csv(args.csv, index=False)
        adjacent_path = args.csv.with_name(f"{args.csv.stem}_adjacent.csv")
        adjacent_df.to_csv(adjacent_path, index=False)
        print(f"\nwrote {args.csv} and {adjacent_path}", file=sys.stderr)
    return 0


def analyze_params(args: argparse.Namespace) -> int:
    registry = build_registry()
    store = ResultsStore(args.store or default_store())
    sets = parse_sets(args.set)
    slimmer_names = args.slimmers or [n for n in registry.names("slimmer") if n != "custom"]
    rows = []
    for dataset_name in args.datasets or registry.names("dataset"):
        spec = registry.get("dataset", dataset_name)
        try:
            data = load_dataset(spec, args.data_root)
        except DataError as exc:
            print(f"skipped {spec.name}: {exc}", file=sys.stderr)
            continue
        for pretrainer_name in args.pretrainers or registry.names("pretrainer"):
            pretrainer = registry.get("pretrainer", pretrainer_name)
            if spec.task not in pretrainer.tasks:  # e.g. a node-classification pretrainer on a link dataset
                if args.pretrainers and args.datasets:
                    print(f"skipped {pretrainer.name} on {spec.name}: it does not support {spec.task}", file=sys.stderr)
                continue
            options = resolve_options(pretrainer, spec.name, pretrainer.name, args.preset, sets["pretrain"],
                                      registry.supplied_overrides("pretrainer", pretrainer.name))
            slimmers = [(s, resolve_options(s, spec.name, pretrainer.name, args.preset, sets["slim"],
                                            registry.supplied_overrides("slimmer", s.name)))
                        for s in (registry.get("slimmer", n) for n in slimmer_names)]
            config = dict(analysis="params", dataset=spec.name, pretrainer=pretrainer.name,
                          pretrainer_version=pretrainer.version, preset=args.preset,
                          pretrainer_options=options_dict(options), slimmers=[s.name for s, _ in slimmers])
            records = [dict(dataset=spec.name, pretrainer=pretrainer.name, preset=args.preset, **r)
                       for r in parameter_rows(pretrainer, options, data, slimmers)]
            store.write_records("params", config_hash(config), config, records)
            rows += records
    if not rows:
        raise DataError("no dataset could be loaded")
    df = pd.DataFrame(rows)
    print(render(params_table(df), args.format))
    if args.csv:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(args.csv, index=False)
        print(f"\nwrote {args.csv}", file=sys.stderr)
    return 0


def params_table(df: pd.DataFrame) -> pd.DataFrame:
    """Tables 8/9 layout: rows (pretrainer, strategy, GNN | Linear), one column per dataset."""
    gnn = df.assign(part="GNN (frozen)", cell=[f"{g:,} ({c:+.1f}%)" for g, c in zip(df["gnn_params"], df["gnn_change_pct"])])
    linear = df.assign(part="Linear (fine-tuned)", cell=[f"{int(n):,}" if pd.notna(n) else "–" for n in df["linear_params"]])
    long = pd.concat([gnn, linear])
    table = long.pivot_table(index=["pretrainer", "slimmer", "part"], columns="dataset", values="cell", aggfunc="first",
                             sort=False)
    return table.reindex(columns=list(dict.fromkeys(df["dataset"]))).fillna("").reset_index()  # "": not of that task


def plot_decorrelation(args: argparse.Namespace, store: ResultsStore) -> int:
    from slide_plugin import plots
    from slide_plugin.diagnostics import diagnostics_frame, diagnostics_summary

    runs = store.frame()
    runs = runs[runs["preset"] == args.preset] if len(runs) else runs
    for column, wanted in (("dataset", args.datasets), ("pretrainer", args.pretrainers), ("head", args.heads)):
        if wanted and len(runs):
            runs = runs[runs[column].str.lower().isin([w.lower() for w in wanted])]
    df = diagnostics_frame(runs) if len(runs) else pd.DataFrame()
    if df.empty:
        raise DataError(f"no stored run in {store.path} logged weight diagnostics: run a re-weighting head "
                        "(slide, slide-lora) first")
    print(render(diagnostics_summary(df), args.format))
    for path in plots.plot_decorrelation(df, args.out):
        print(path)
    return 0


def plot(args: argparse.Namespace) -> int:
    require_extra("matplotlib", "plots", "slide-bench plot")
    from slide_plugin import plots  # matplotlib loads only when a figure is asked for

    store = ResultsStore(args.store or default_store(), read_only=True)
    if args.figure == "decorrelation":
        return plot_decorrelation(args, store)
    kind = KINDS[args.figure]
    df = store.records(kind)
    if not df.empty:
        df = df[df["preset"] == args.preset]
        for column, wanted in (("dataset", args.datasets), ("pretrainer", args.pretrainers)):
            if wanted:
                df = df[df[column].str.lower().isin([w.lower() for w in wanted])]
        if kind == "cka_slim":
            df = df[df["selection"] == args.selection]
    if df.empty:
        analysis = "params" if kind == "params" else "cka"
        raise DataError(f"no matching '{kind}' records in {store.path}: run 'slide-bench analyze {analysis}' first")
    df = df.drop_duplicates(IDENTITY[kind], keep="last")
    order = {normalize(name): i for i, name in enumerate(build_registry().names("dataset"))}
    df = df.sort_values("dataset", key=lambda s: s.map(lambda d: order.get(normalize(d), len(order))), kind="stable")
    if kind == "cka_slim":
        paths = plots.plot_cka(df, args.out)
    elif kind == "cka_adjacent":
        paths = plots.plot_adjacent(df, args.out)
    else:
        paths = plots.plot_params(df, args.out, args.slimmers)
    for path in paths:
        print(path)
    return 0
