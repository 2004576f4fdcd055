"""Result tables from the store's long frame: rows = method, columns = dataset, cells = mean ± std.

:func:`summary` is the flat table of ``slide-bench run``. :func:`paper_tables` builds the paper's
layout: one table per (task, pretrainer, preset); columns are (dataset, metric) pairs, by default the
task's table metrics (:attr:`registry.tasks.Task.metrics`: F1-Mi and F1-Ma for node classification); each row is a method, i.e. a (slimmer, head) pair and its options, labelled by the ``row_label`` column
(a spec group's ``label``) where set, else by the spec's ``[labels]``
when given, else by the slimmer's name when the whole table shares one head (Table 1), by the
head's name when it shares one slimmer, and ``slimmer/head`` otherwise. Cells are mean ± population
std over the ``ok`` runs (pretraining × fine-tuning seeds); ``(k/n)`` marks cells where only k of n
runs finished; a cell with no finished run reads ``OOM`` or ``failed``. One ``Change-Param`` row
per slimmer that changes the encoder's parameter count gives the mean change in percent. With a
reference frame, published values are shown beside ours as ``[ref …]`` (official preset only),
and each table's notes list their sources.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from importlib import resources
from typing import Callable, Iterable, Mapping, TextIO

import pandas as pd

from registry.cache import config_hash
from registry.commands.common import FORMATS
from registry.registry import normalize
from registry.tasks import BY_NAME, NODE, Task, metric_labels

Tasks = Mapping[str, Task]  # by name: the registry's tasks (default: the built-in ones)


def mean_std(values: pd.Series, digits: int = 2) -> str:
    values = values.dropna()
    if values.empty:
        return "–"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=0):.{digits}f}"


def _seeds(values: pd.Series) -> str:
    return " ".join(map(str, sorted(set(values.astype(int)))))


def default_metrics(df: pd.DataFrame, tasks: Tasks = BY_NAME) -> list[str]:
    """The table metrics of every task in ``df`` (node classification's for a frame without runs); for a
    task no plugin registers now, the test metrics its rows required."""
    if "task" not in df or not len(df):
        return list(tasks[NODE].metrics)
    metrics: dict[str, None] = {}
    for name, part in df.groupby("task", sort=False):
        if name in tasks:
            metrics |= dict.fromkeys(tasks[name].metrics)
        else:
            metrics |= dict.fromkeys(m for required in part["required"] for m in required if m.startswith("test_"))
    return list(metrics)


def cell_stats(part: pd.DataFrame, metrics: Iterable[str]) -> dict[str, object]:
    """The numbers behind one cell: per metric its mean, population std and n over the ``ok`` runs,
    the runs asked for and finished, their seeds, and the mean encoder parameter change."""
    ok = part[part["status"] == "ok"]
    out: dict[str, object] = {}
    for metric in metrics:
        values = ok[metric].dropna() if metric in ok else pd.Series(dtype=float)
        out |= {f"{metric}_mean": values.mean() if len(values) else None,
                f"{metric}_std": values.std(ddof=0) if len(values) else None, f"{metric}_n": len(values)}
    change = ok["param_change_pct"].dropna() if "param_change_pct" in ok else pd.Series(dtype=float)
    return out | {"param_change_pct": change.mean() if len(change) else None, "runs": len(part), "runs_ok": len(ok),
                  "seeds": _seeds(ok["seed"]), "finetune_seeds": _seeds(ok["finetune_seed"])}


def summary_data(df: pd.DataFrame, metrics: Iterable[str] | None = None, tasks: Tasks = BY_NAME) -> pd.DataFrame:
    """One row per (dataset, pretrainer, slimmer, head): :func:`cell_stats` as numbers (default
    metrics: :func:`default_metrics`)."""
    keys = ["dataset", "pretrainer", "slimmer", "head"]
    metrics = default_metrics(df, tasks) if metrics is None else list(metrics)
    return pd.DataFrame([dict(zip(keys, group)) | cell_stats(part, metrics)
                         for group, part in df.groupby(keys, sort=False)])


def summary(df: pd.DataFrame, tasks: Tasks = BY_NAME) -> pd.DataFrame:
    """:func:`summary_data` for reading: mean ± population std (n) per metric, the encoder's parameter
    change, the trainable parameters and the seeds."""
    rows, labels = [], metric_labels(tasks.values())
    for row, (_, part) in zip(summary_data(df, tasks=tasks).to_dict("records"),
                              df.groupby(["dataset", "pretrainer", "slimmer", "head"], sort=False)):
        shown = {k: row[k] for k in ("dataset", "pretrainer", "slimmer", "head")}
        for column in default_metrics(df, tasks):
            shown[labels.get(column, column)] = _cell(part, column) if column in default_metrics(part, tasks) else ""
        ok = part[part["status"] == "ok"]
        shown["Change-Param"] = f"{row['param_change_pct']:+.1f}%" if row["param_change_pct"] is not None else ""
        shown["trainable"] = int(ok["trainable_params"].mean()) if len(ok) else ""
        shown["seeds"] = row["seeds"]
        rows.append(shown)
    return pd.DataFrame(rows)


def load_reference() -> pd.DataFrame:
    """Published baselines and derived parameter changes (``registry/data/reference.csv``), one row
    per (pretrainer, dataset, slimmer, head, metric) with ``mean``, ``std`` and ``source``."""
    with (resources.files("registry") / "data" / "reference.csv").open() as f:
        return pd.read_csv(f, comment="#", keep_default_na=False, dtype={"mean": float})


@dataclass
class PaperTable:
    title: str
    frame: pd.DataFrame  # index: method; columns: MultiIndex (dataset, metric label)
    notes: list[str] = field(default_factory=list)
    data: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per (method, dataset): cell_stats as numbers


def _setting(config: dict) -> str:
    return config_hash({k: v for k, v in config.items() if k not in ("seed", "finetune_seed")})


def _cell(part: pd.DataFrame, column: str) -> str:
    ok = part[part["status"] == "ok"]
    if ok.empty:
        return "OOM" if (part["status"] == "oom").any() else "failed"
    text = mean_std(ok[column]) if column in ok else "–"
    return f"{text} (n={len(ok)})" if len(ok) == len(part) else f"{text} ({len(ok)}/{len(part)} ok)"


class _Reference:
    def __init__(self, frame: pd.DataFrame | None):
        self.frame, self.used = frame, set()

    def __call__(self, pretrainer: str, dataset: str, slimmer: str, head: str, metric: str) -> pd.Series | None:
        if self.frame is None:
            return None
        f = self.frame
        hit = f[(f["pretrainer"].map(normalize) == normalize(pretrainer)) & (f["dataset"].map(normalize) == normalize(dataset))
                & (f["slimmer"].map(normalize) == normalize(slimmer)) & (f["head"].map(normalize).isin(("", normalize(head))))
                & (f["metric"] == metric)]
        if hit.empty:
            return None
        self.used.add(hit.iloc[0]["source"])
        return hit.iloc[0]


def paper_tables(
    df: pd.DataFrame,
    metrics: Iterable[str] | None = None,
    label: Callable[[str, str], str | None] = lambda slimmer, head: None,
    reference: pd.DataFrame | None = None,
    mark: Callable[[pd.DataFrame, str], str] | None = None,
    tasks: Tasks = BY_NAME,
    percent_of: str | None = None,
) -> list[PaperTable]:
    """Paper-shaped tables from the store's frame (all statuses), one per (task, pretrainer, preset),
    showing ``metrics`` (default: each task's own); ``label(slimmer, head)`` names rows; with
    ``percent_of`` (a row name), every other row's means also as a percentage of that row's (:func:`percent_rows`);
    ``mark(cell runs, metric)`` appends a marker to a cell (see :func:`registry.compare.significance_marker`)."""
    chosen, labels = metrics, metric_labels(tasks.values())
    tables = []
    df = df.assign(setting=df["config"].map(_setting))
    if "task" not in df:
        df = df.assign(task=NODE)
    for (task, pretrainer, preset), part in df.groupby(["task", "pretrainer", "preset"], sort=False):
        metrics = default_metrics(part, tasks) if chosen is None else list(chosen)
        ref = _Reference(reference if preset == "official" else None)  # references are of the official configs
        datasets = list(dict.fromkeys(part["dataset"]))
        # The same (slimmer, head, dataset) run with other options: numbered variants, never averaged together.
        part = part.assign(variant=part.groupby(["slimmer", "head", "dataset"])["setting"].transform(
            lambda s: s.map({v: i for i, v in enumerate(dict.fromkeys(s))})))
        methods = list(dict.fromkeys(zip(part["slimmer"], part["head"], part["variant"])))
        one_head, one_slimmer = part["head"].nunique() == 1, part["slimmer"].nunique() == 1
        names = {}
        for slimmer, head, variant in methods:
            runs = part[(part["slimmer"] == slimmer) & (part["head"] == head) & (part["variant"] == variant)]
            given = runs["row_label"].dropna() if "row_label" in runs else pd.Series(dtype=object)
            if len(given):  # a spec group's own label
                names[slimmer, head, variant] = str(given.iloc[0])
                continue
            name = label(slimmer, head) or (slimmer if one_head else head if one_slimmer else f"{slimmer}/{head}")
            names[slimmer, head, variant] = name + (f" #{variant + 1}" if variant else "")
        columns = pd.MultiIndex.from_product([datasets, [labels.get(m, m) for m in metrics]])
        rows, changes, data = {}, {}, []
        for (slimmer, head, variant), name in names.items():
            sel = part[(part["slimmer"] == slimmer) & (part["head"] == head) & (part["variant"] == variant)]
            row, change = [], []
            for dataset in datasets:
                cell = sel[sel["dataset"] == dataset]
                if len(cell):
                    data.append(dict(pretrainer=pretrainer, preset=preset, method=name, slimmer=slimmer, head=head,
                                     dataset=dataset) | cell_stats(cell, metrics))
                for metric in metrics:
                    text = _cell(cell, metric) if len(cell) else ""
                    text += mark(cell, metric) if mark is not None and len(cell) else ""
                    found = ref(pretrainer, dataset, slimmer, head, metric) if len(cell) else None
                    row.append(text if found is None else f"{text} [ref {found['mean']:.2f}{_std(found)}]")
                pct = cell.loc[cell["status"] == "ok", "param_change_pct"] if "param_change_pct" in cell else pd.Series()
                found = ref(pretrainer, dataset, slimmer, "", "param_change_pct")
                text = f"{pct.mean():+.1f}%" if len(pct) else ""
                change += [text if found is None else f"{text} [ref {found['mean']:+.1f}%]"] + [""] * (len(metrics) - 1)
                if len(pct) and abs(pct.mean()) >= 0.05:
                    changes.setdefault(slimmer, change)
            rows[name] = row
        data = pd.DataFrame(data)
        kept = percent_rows(data, percent_of, datasets, metrics) if percent_of in rows else {}
        rows |= kept
        for slimmer, change in changes.items():
            rows["Change-Param" if len(changes) == 1 else f"Change-Param ({slimmer})"] = change
        frame = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
        frame.index.name = "Method"
        runs = _seed_sets(data)
        if len(runs) == 1:  # every cell over the same seeds: n once, in the title, not in every cell
            frame = frame.map(lambda text: text.replace(f" (n={data['runs_ok'].iloc[0]})", ""))
        notes = [f"ref: {source}" for source in sorted(ref.used)]
        if len(runs) > 1:
            notes.append("cells average different runs (n per cell): compare rows over the same seeds, e.g. "
                         "with a spec (slide-bench table SPEC)")
        if changes:
            notes.append("Change-Param: change in the encoder's parameter count against the original encoder")
        if kept:
            notes.append(f"% of {percent_of}: a row's mean as a percentage of {percent_of}'s mean on the same dataset")
        if preset == "quick":
            notes.append("smoke run (preset quick: a few epochs): these scores are not comparable to published "
                         "ones; the official settings are the default preset (e.g. slide-bench matrix table3)")
        if reference is not None and preset != "official":
            notes.append("no reference values: they are of the official configurations, not this preset")
        if any(variant and names[slimmer, head, variant].endswith(f" #{variant + 1}")
               for slimmer, head, variant in names):
            notes.append("#n: the same method run with other options (pass a spec to select one setting)")
        seeds = (f"; n = {data['runs_ok'].iloc[0]} per cell: seeds {runs.pop()[0]}, fine-tuning seeds "
                 f"{data['finetune_seeds'].iloc[0]}" if len(runs) == 1 else "")
        title = f"{pretrainer} (preset {preset}, {task}, {int((part['status'] == 'ok').sum())} runs ok{seeds})"
        tables.append(PaperTable(title, frame, notes, data))
    return tables


def percent_rows(data: pd.DataFrame, base: str, datasets: list[str], metrics: list[str]) -> dict[str, list[str]]:
    """``"<row> (% of <base>)"`` rows: per dataset and metric, 100 × the row's mean / ``base``'s mean (how much
    of the base score a slimmed model keeps), from :func:`cell_stats` records ``data`` (one per method and dataset)."""
    means = data.set_index(["method", "dataset"])
    out = {}
    for method in dict.fromkeys(data["method"]):
        if method == base:
            continue
        row = []
        for dataset in datasets:
            for metric in metrics:
                column = f"{metric}_mean"
                have = (method, dataset) in means.index and (base, dataset) in means.index
                ours, theirs = (means.at[(method, dataset), column], means.at[(base, dataset), column]) if have else (None, None)
                row.append(f"{100 * ours / theirs:.1f}%" if have and pd.notna(ours) and pd.notna(theirs) and theirs else "")
        out[f"{method} (% of {base})"] = row
    return out


def _seed_sets(data: pd.DataFrame) -> set[tuple[str, str, int]]:
    """The distinct (seeds, fine-tuning seeds, runs) of a table's cells, ``ok`` runs only."""
    if data.empty:
        return set()
    complete = data[data["runs_ok"] == data["runs"]]
    sets = set(zip(data["seeds"], data["finetune_seeds"], data["runs_ok"]))
    return sets if len(complete) == len(data) else sets | {("partial", "", -1)}


def _std(found: pd.Series) -> str:
    return f" ± {float(found['std']):.2f}" if str(found["std"]).strip() else ""


def render(df: pd.DataFrame, fmt: str = "markdown") -> str:
    """A frame as Markdown, CSV, JSON (records) or LaTeX; (dataset, metric) column pairs are flattened except in LaTeX."""
    if df.empty:
        return "(no results)"
    if fmt not in FORMATS:
        raise ValueError(f"unknown format '{fmt}' ({', '.join(FORMATS)})")
    if fmt == "latex":
        if df.index.name:  # the row names as a first column: no stray row of index names under the header
            df = df.reset_index()
        latex = df.style.format(escape="latex").format_index(escape="latex", axis=1).hide(axis="index")
        latex = latex.to_latex(hrules=True, multicol_align="c").replace("±", r"$\pm$")
        return re.sub(r"(?<![\w$])-(?=\d)", "$-$", latex)  # a minus sign, not a hyphen
    flat = df.copy()
    if isinstance(flat.columns, pd.MultiIndex):
        flat.columns = [" ".join(map(str, c)) for c in flat.columns]
    if flat.index.name:
        flat = flat.reset_index()
    if fmt == "json":
        return flat.to_json(orient="records", indent=2)
    return flat.to_markdown(index=False) if fmt == "markdown" else flat.to_csv(index=False)


def render_tables(tables: list[PaperTable], fmt: str = "markdown", notes: TextIO | None = None) -> str:
    """Markdown or LaTeX: the paper-shaped tables with titles and notes. CSV or JSON: only data, one
    row per (method, dataset) with each metric's mean, std and n (:func:`cell_stats`); titles and notes
    go to ``notes`` (default: stderr)."""
    if fmt in ("csv", "json"):
        for table in tables:
            print("\n".join([table.title, *table.notes]), file=notes or sys.stderr)
        data = pd.concat([t.data for t in tables], ignore_index=True) if tables else pd.DataFrame()
        return data.to_csv(index=False) if fmt == "csv" else data.to_json(orient="records", indent=2) + "\n"
    if not tables:
        return "(no results)"
    comment = {"markdown": "", "latex": "% "}[fmt]
    parts = []
    for table in tables:
        lines = [f"{comment}{table.title}", "", render(table.frame, fmt).rstrip()]
        lines += [""] * bool(table.notes) + [f"{comment}{note}" for note in table.notes]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
