"""``slide-bench study-report``: the SLIDE study's results page, generated from the results store.

Each spec given (the official settings, and optionally tuned settings) is planned as ``matrix`` would
plan it; its finished runs are read from the store by key and named by their group's label. Every claim
is decided from paired comparisons over pretraining seeds (:func:`registry.compare.paired`: per seed the
mean over fine-tuning seeds, the paired difference, a bootstrap interval and a paired t-test), whatever
they say. Cells not in the store yet are counted and listed, so the page works on a partial store.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from registry.commands.common import default_store
from registry.compare import bootstrap_ci, paired, per_seed
from registry.errors import require_extra
from registry.plugins import build_registry
from registry.registry import Registry
from registry.runner import Runner
from registry.spec import MatrixSpec
from registry.store import ResultsStore

METRIC = "test_micro_f1"
KEEP_SHARE = 96.2  # the paper's abstract: slim models retain at least 96.2% of the performance


@dataclass(frozen=True)
class Claim:
    name: str
    a: str
    b: str
    kind: str  # "at least": A ≥ B; "better": A > B; "share": A / B ≥ KEEP_SHARE %


CLAIMS = [
    Claim("SLIDE ≥ FT", "SLIDE", "FT", "at least"),
    Claim("SLIDE ≥ FT", "SLIDE (standardised)", "FT", "at least"),
    Claim("SLIDE ≥ LP", "SLIDE", "LP", "at least"),
    Claim("SLIDE ≥ LP", "SLIDE (standardised)", "LP", "at least"),
    Claim("de-correlation helps", "SLIDE", "SLIDE w/o de (same loop)", "better"),
    Claim("de-correlation helps", "SLIDE", "SLIDE w/o de (paper)", "better"),
    Claim("de-correlation helps", "SLIDE (standardised)", "SLIDE w/o de (same loop)", "better"),
    Claim("SLIDE ≥ FT", "SLIDE (standardised, class mass kept)", "FT", "at least"),
    Claim("de-correlation helps", "SLIDE (standardised, class mass kept)", "SLIDE w/o de (same loop)", "better"),
    Claim(f"Half keeps ≥ {KEEP_SHARE} %", "Half LP", "LP", "share"),
]


def spec_runs(spec: MatrixSpec, registry: Registry, store: ResultsStore) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The spec's finished runs with their ``label``, and one row per planned cell with whether it is done."""
    planned = []
    for group in spec.groups:
        for item in Runner(registry, store, None, None).plan(spec.group_cells(registry, group), force=True)[0]:
            cell = item.cell
            planned.append(dict(key=item.key, label=group.label or spec.label(cell.slimmer, cell.head)
                                or f"{cell.slimmer}/{cell.head}", dataset=cell.dataset, pretrainer=cell.pretrainer,
                                seed=cell.seed, finetune_seed=cell.finetune_seed))
    cells = pd.DataFrame(planned).drop_duplicates("key")
    runs = store.frame(cells["key"].tolist())
    runs = runs[runs["status"] == "ok"] if len(runs) else runs
    cells["done"] = cells["key"].isin(set(runs["key"]) if len(runs) else set())
    if len(runs):
        runs = runs.merge(cells[["key", "label"]], on="key")
    return runs, cells


def decide(claim: Claim, a: pd.DataFrame, b: pd.DataFrame, alpha: float) -> dict[str, object]:
    """One claim on one (pretrainer, dataset): the paired numbers and a verdict."""
    row: dict[str, object] = {"claim": claim.name, "A": claim.a, "B": claim.b}
    if a.empty or b.empty:
        return row | {"n seeds": 0, "verdict": "no data yet"}
    if claim.kind == "share":
        scores = pd.concat({"a": per_seed(a, METRIC), "b": per_seed(b, METRIC)}, axis=1).dropna()
        shares = (100 * scores["a"] / scores["b"]).to_numpy()
        if len(shares) < 2:
            return row | {"n seeds": len(shares), "verdict": "too few paired seeds"}
        low, high = bootstrap_ci(shares)
        verdict = "holds" if low >= KEEP_SHARE else "fails" if high < KEEP_SHARE else "undecided (interval spans it)"
        return row | {"n seeds": len(shares), "A−B": f"{shares.mean():.2f} % of B",
                      "95% CI": f"[{low:.2f}, {high:.2f}] %", "p (paired t)": "", "verdict": verdict}
    result = paired(a, b, METRIC, alpha)
    if result is None or len(result.seeds) < 2:
        return row | {"n seeds": 0 if result is None else len(result.seeds), "verdict": "too few paired seeds"}
    significant = not math.isnan(result.p_value) and result.p_value < alpha
    if claim.kind == "at least":
        verdict = ("holds: A better" if significant and result.mean_diff > 0 else
                   "refuted: A worse" if significant else "consistent: no detectable difference")
    else:
        verdict = ("holds: A better" if significant and result.mean_diff > 0 else
                   "refuted: A worse" if significant else "not shown: no detectable difference")
    return row | {"n seeds": len(result.seeds), "A−B": f"{result.mean_diff:+.2f}",
                  "95% CI": f"[{result.ci_low:+.2f}, {result.ci_high:+.2f}]", "p (paired t)": f"{result.p_value:.3f}",
                  "verdict": verdict}


COLUMNS = ["pretrainer", "dataset", "claim", "A", "B", "n seeds", "A−B", "95% CI", "p (paired t)", "verdict"]


def claim_rows(runs: pd.DataFrame, cells: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Every claim on every (pretrainer, dataset) of the spec whose two methods it plans."""
    rows = []
    for (pretrainer, dataset), planned in cells.groupby(["pretrainer", "dataset"], sort=False):
        here = runs[(runs["pretrainer"] == pretrainer) & (runs["dataset"] == dataset)] if len(runs) else runs
        for claim in CLAIMS:
            if not {claim.a, claim.b} <= set(planned["label"]):
                continue
            pick = (lambda label: here[here["label"] == label]) if len(here) else (lambda label: here)
            rows.append({"pretrainer": pretrainer, "dataset": dataset} | decide(claim, pick(claim.a), pick(claim.b), alpha))
    return pd.DataFrame(rows, columns=COLUMNS).astype(object).fillna("")  # blank cells, no float upcast warning


def scores_table(runs: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """Test Micro-F1 per method (rows) and pretrainer/dataset (columns): mean ± std over pretraining seeds of
    the per-seed means over fine-tuning seeds, with the number of runs finished of those planned."""
    columns = list(dict.fromkeys(zip(cells["pretrainer"], cells["dataset"])))
    table = {}
    for label in dict.fromkeys(cells["label"]):
        row = {}
        for pretrainer, dataset in columns:
            planned = cells[(cells["label"] == label) & (cells["pretrainer"] == pretrainer) & (cells["dataset"] == dataset)]
            part = runs[(runs["label"] == label) & (runs["pretrainer"] == pretrainer) & (runs["dataset"] == dataset)] \
                if len(runs) else runs
            if len(planned) == 0:
                cell = ""
            elif part.empty:
                cell = f"– (0/{len(planned)})"
            else:
                seeds = per_seed(part, METRIC)
                cell = f"{seeds.mean():.2f} ± {seeds.std(ddof=0):.2f} ({len(part)}/{len(planned)})"
            row[f"{pretrainer} {dataset}"] = cell
        table[label] = row
    return pd.DataFrame.from_dict(table, orient="index")


def summary(claims: pd.DataFrame) -> pd.DataFrame:
    """Per claim (and A vs B): how many (pretrainer, dataset) pairs each verdict got."""
    if claims.empty:
        return claims
    counts = claims.groupby(["claim", "A", "B"], sort=False)["verdict"].value_counts().rename("pairs").reset_index()
    return counts.groupby(["claim", "A", "B"], sort=False).apply(
        lambda g: "; ".join(f"{v}: {n}" for v, n in zip(g["verdict"], g["pairs"])), include_groups=False
    ).rename("verdicts over (pretrainer, dataset) pairs").reset_index()


def weights_table(runs: pd.DataFrame) -> pd.DataFrame:
    """What the weight learner did in the SLIDE runs, per method, pretrainer and dataset: the extremes of the
    weights, the lowest effective sample size over the batch size, the balance loss under the learned
    weights relative to uniform ones (mean over epochs and runs; below 1: the weights de-correlated), and the
    label mass the weights moved between classes (largest epoch mean of the batches' total variation
    distance; blank for runs stored before the diagnostic existed)."""
    from slide_plugin.diagnostics import diagnostics_frame

    frame = diagnostics_frame(runs) if len(runs) else pd.DataFrame()
    if frame.empty:
        return frame
    frame = frame.merge(runs[["key", "label"]], on="key")
    grouped = frame.groupby(["label", "pretrainer", "dataset"], sort=False)
    return pd.DataFrame({"runs": grouped["key"].nunique(), "weight min": grouped["weight_min"].min(),
                         "weight max": grouped["weight_max"].max(), "ESS / b (min)": grouped["ess_ratio"].min(),
                         "balance learned / uniform": grouped["balance_ratio"].mean(),
                         "class shift (max)": (grouped["class_shift"].max() if "class_shift" in frame
                                               else float("nan"))}).round(4).reset_index()


def wall_times(runs: pd.DataFrame) -> str:
    if runs.empty:
        return "no finished runs"
    hours = lambda column: runs[column].fillna(0).sum() / 3600 if column in runs else float("nan")  # noqa: E731
    return (f"{len(runs)} finished runs; wall time {hours('wall_time_s'):.2f} h in all, of which pretraining "
            f"{hours('pretrain_time_s'):.2f} h and fine-tuning {hours('finetune_time_s'):.2f} h (as the store recorded them)")


def markdown(df: pd.DataFrame, index: bool = False) -> str:
    return df.to_markdown(index=index) if len(df) else "(nothing yet)"


def shown(spec: MatrixSpec) -> str:
    """How to name the spec on a command line: a shipped one by its name, else by its file."""
    shipped = Path(spec.source).parent.name == "specs" and Path(spec.source).parent.parent.name == "registry"
    return spec.name if shipped or not spec.source else shlex.quote(spec.source)


def section(title: str, specs: list[MatrixSpec], registry: Registry, store: ResultsStore, alpha: float) -> str:
    """One settings' part of the page, over the union of its specs' cells."""
    parts = [spec_runs(spec, registry, store) for spec in specs]
    cells = pd.concat([c for _, c in parts], ignore_index=True).drop_duplicates("key")
    runs = pd.concat([r for r, _ in parts if len(r)], ignore_index=True).drop_duplicates("key") \
        if any(len(r) for r, _ in parts) else parts[0][0]
    claims = claim_rows(runs, cells, alpha)
    missing = cells[~cells["done"]].groupby(["pretrainer", "dataset", "label"], sort=False).size()
    groups = [group for spec in specs for group in spec.groups]
    seeds = sorted({seed for group in groups for seed in group.axes["seeds"]})
    finetune = sorted({seed for group in groups for seed in group.axes["finetune_seeds"]})
    names = ", ".join(f"`{spec.name}`" for spec in specs)
    lines = [f"## {title}: spec{'s' if len(specs) > 1 else ''} {names}", "",
             *[f"{spec.description}." for spec in specs if spec.description], "",
             f"Pretrainers {', '.join(dict.fromkeys(cells['pretrainer']))}; datasets "
             f"{', '.join(dict.fromkeys(cells['dataset']))}; pretraining seeds {', '.join(map(str, seeds))}; "
             f"fine-tuning seeds {', '.join(map(str, finetune))}. Runs (resumable, any number of processes): "
             + "; ".join(f"`slide-bench matrix {shown(spec)} --store {store.path}`" for spec in specs) + ".", "",
             f"{int(cells['done'].sum())} of {len(cells)} planned runs are in the store. {wall_times(runs)}.", "",
             "### Verdicts", "", markdown(summary(claims)), "",
             "### Paired comparisons (test Micro-F1, A − B over pretraining seeds)", "", markdown(claims), "",
             "### Scores (test Micro-F1, mean ± std over pretraining seeds; finished/planned runs)", "",
             markdown(scores_table(runs, cells), index=True), "",
             "### What the sample weights did (SLIDE runs, per-epoch diagnostics)", "",
             "ESS / b: effective sample size over the batch size (1 = uniform weights). Balance learned / uniform: "
             "the batch's balance loss under the learned weights over that under uniform ones (below 1: the weights "
             "de-correlated). Class shift: the label mass the weights moved between classes (total variation between "
             "the weighted and the unweighted class distribution of a batch; blank for runs stored before it was "
             "logged); on a class-balanced training set it is what gives the classifier's bias a gradient that does "
             "not come from the embeddings.", "", markdown(weights_table(runs)), ""]
    if len(missing):
        lines += ["### Missing", "", "Runs not in the store yet (pretrainer, dataset, method: count):", "",
                  *[f"- {p} {d}, {label}: {n}" for (p, d, label), n in missing.items()], ""]
    return "\n".join(lines)


def figure(spec: MatrixSpec, registry: Registry, store: ResultsStore, folder: Path) -> list[Path]:
    """The weight diagnostics of the spec's SLIDE runs per epoch, raw and standardised RFF input side by side
    (:func:`slide_plugin.plots.plot_decorrelation`), as ``<folder>/slide-study-decorrelation.png`` and ``.pdf``;
    nothing when no run logged them yet."""
    require_extra("matplotlib", "plots", "slide-bench study-report --figures")
    from slide_plugin.diagnostics import diagnostics_frame
    from slide_plugin.plots import plot_decorrelation

    runs, _ = spec_runs(spec, registry, store)
    frame = diagnostics_frame(runs) if len(runs) else pd.DataFrame()
    return [] if frame.empty else plot_decorrelation(frame, folder, "slide-study-decorrelation")


def report(specs: list[tuple[str, list[MatrixSpec]]], registry: Registry, store: ResultsStore, alpha: float,
           command: str, figures: list[str] = ()) -> str:
    head = ["# SLIDE study: does SLIDE help, and when?", "",
            f"Generated from the results store by `{command}`; no number on this page is typed by hand.",
            "Each claim is decided per (pretrainer, dataset) from paired comparisons over pretraining seeds "
            f"(per seed the mean over fine-tuning seeds; 95% bootstrap interval; paired t-test, α = {alpha}). "
            "\"≥\" claims hold when A is significantly better, are refuted when it is significantly worse and are "
            "consistent when no difference is detected; \"helps\" needs A significantly better; "
            f"\"Half keeps ≥ {KEEP_SHARE} %\" holds when the interval of Half LP / LP lies above {KEEP_SHARE} %.",
            "Methods: LP and Half LP = linear probe on the original / half encoder; FT = full fine-tuning; SLIDE = "
            "the 2-half encoder with de-correlation re-weighting, its RFF map on the raw embeddings (official) or on "
            "standardised ones (\"class mass kept\": the weights rescaled within each class, head `slide-class-mass`); "
            "w/o de (same loop) = SLIDE's loop with weights 1; w/o de (paper) = each pretrainer's "
            "own ablation protocol (head `slide-wo-de`).", ""]
    if figures:
        head += ["Weight diagnostics of the official-settings SLIDE runs per epoch, raw and standardised RFF input side "
                 "by side: " + ", ".join(f"[{Path(f).suffix[1:]}]({f})" for f in figures) + ".", ""]
    return "\n".join(head + [section(title, spec, registry, store, alpha) for title, spec in specs])


def study_report(args: argparse.Namespace) -> int:
    """The command: plan the specs, read the store, write (or print) the page."""
    registry = build_registry()
    specs = [("Official settings", [MatrixSpec.load(args.spec, registry)])]
    if args.tuned_spec:
        specs.append(("Equal-trials tuned settings", [MatrixSpec.load(path, registry) for path in args.tuned_spec]))
    store = ResultsStore(args.store or default_store(), read_only=True)
    figures = figure(specs[0][1][0], registry, store, args.figures) if args.figures else []
    base = args.out.parent if args.out else Path.cwd()
    links = [os.path.relpath(path, base) for path in figures]
    options = [("--spec", shlex.quote(args.spec)), ("--tuned-spec", " ".join(map(shlex.quote, args.tuned_spec or [])) or None),
               ("--store", args.store and shlex.quote(str(args.store))), ("--out", args.out and shlex.quote(str(args.out))),
               ("--figures", args.figures and shlex.quote(str(args.figures)))]
    command = " ".join(["slide-bench study-report"] + [f"{flag} {value}" for flag, value in options if value])
    page = report(specs, registry, store, args.alpha, command, links)
    if args.out is None:
        print(page, end="")
    else:
        args.out.write_text(page, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0
