"""Result tables from the store's long frame: rows = method, columns = dataset, cells = mean ± std.

:func:`summary` is the flat table of ``slide-bench run``. :func:`paper_tables` builds the paper's
layout: one table per (pretrainer, preset); columns are (dataset, metric) pairs, F1-Mi and F1-Ma by
default; each row is a method, i.e. a (slimmer, head) pair and its options, labelled by the ``row_label`` column
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

from dataclasses import dataclass, field
from importlib import resources
from typing import Callable, Iterable

import pandas as pd

from registry.cache import config_hash
from registry.commands.common import FORMATS
from registry.metrics import METRICS
from registry.registry import normalize


def mean_std(values: pd.Series, digits: int = 2) -> str:
    values = values.dropna()
    if values.empty:
        return "–"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=0):.{digits}f}"


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, pretrainer, slimmer, head): mean ± population std over seeds, the
    parameter change of the encoder, and the number of runs."""
    ok = df[df["status"] == "ok"]
    keys = ["dataset", "pretrainer", "slimmer", "head"]
    rows = []
    for group, part in ok.groupby(keys, sort=False):
        row = dict(zip(keys, group))
        for column, label in METRICS.items():
            row[label] = mean_std(part[column])
        row["Change-Param"] = f"{part['param_change_pct'].mean():+.1f}%"
        row["trainable"] = int(part["trainable_params"].mean())
        row["runs"] = len(part)
        rows.append(row)
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


def _setting(config: dict) -> str:
    return config_hash({k: v for k, v in config.items() if k not in ("seed", "finetune_seed")})


def _cell(part: pd.DataFrame, column: str) -> str:
    ok = part[part["status"] == "ok"]
    if ok.empty:
        return "OOM" if (part["status"] == "oom").any() else "failed"
    text = mean_std(ok[column]) if column in ok else "–"
    return text if len(ok) == len(part) else f"{text} ({len(ok)}/{len(part)})"


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
    metrics: Iterable[str] = tuple(METRICS),
    label: Callable[[str, str], str | None] = lambda slimmer, head: None,
    reference: pd.DataFrame | None = None,
    mark: Callable[[pd.DataFrame, str], str] | None = None,
) -> list[PaperTable]:
    """Paper-shaped tables from the store's frame (all statuses); ``label(slimmer, head)`` names rows;
    ``mark(cell runs, metric)`` appends a marker to a cell (see :func:`registry.compare.significance_marker`)."""
    metrics = list(metrics)
    tables = []
    df = df.assign(setting=df["config"].map(_setting))
    for (pretrainer, preset), part in df.groupby(["pretrainer", "preset"], sort=False):
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
        columns = pd.MultiIndex.from_product([datasets, [METRICS.get(m, m) for m in metrics]])
        rows, changes = {}, {}
        for (slimmer, head, variant), name in names.items():
            sel = part[(part["slimmer"] == slimmer) & (part["head"] == head) & (part["variant"] == variant)]
            row, change = [], []
            for dataset in datasets:
                cell = sel[sel["dataset"] == dataset]
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
        for slimmer, change in changes.items():
            rows["Change-Param" if len(changes) == 1 else f"Change-Param ({slimmer})"] = change
        frame = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
        frame.index.name = "Method"
        notes = [f"ref: {source}" for source in sorted(ref.used)]
        if reference is not None and preset != "official":
            notes.append("no reference values: they are of the official configurations, not this preset")
        if any(variant and names[slimmer, head, variant].endswith(f" #{variant + 1}")
               for slimmer, head, variant in names):
            notes.append("#n: the same method run with other options (pass a spec to select one setting)")
        tables.append(PaperTable(f"{pretrainer} (preset {preset}, {int((part['status'] == 'ok').sum())} runs ok)",
                                 frame, notes))
    return tables


def _std(found: pd.Series) -> str:
    return f" ± {float(found['std']):.2f}" if str(found["std"]).strip() else ""


def render(df: pd.DataFrame, fmt: str = "markdown") -> str:
    """A frame as Markdown, CSV or LaTeX; (dataset, metric) column pairs are flattened except in LaTeX."""
    if df.empty:
        return "(no results)"
    if fmt not in FORMATS:
        raise ValueError(f"unknown format '{fmt}' ({', '.join(FORMATS)})")
    if fmt == "latex":
        latex = df.style.format(escape="latex").format_index(escape="latex", axis=0).format_index(escape="latex", axis=1)
        latex = latex if isinstance(df.columns, pd.MultiIndex) or df.index.name else latex.hide(axis="index")
        return latex.to_latex(hrules=True, multicol_align="c").replace("±", r"$\pm$")
    flat = df.copy()
    if isinstance(flat.columns, pd.MultiIndex):
        flat.columns = [" ".join(map(str, c)) for c in flat.columns]
    if flat.index.name:
        flat = flat.reset_index()
    return flat.to_markdown(index=False) if fmt == "markdown" else flat.to_csv(index=False)


def render_tables(tables: list[PaperTable], fmt: str = "markdown") -> str:
    if not tables:
        return "(no results)"
    comment = {"markdown": "", "csv": "# ", "latex": "% "}[fmt]
    parts = []
    for table in tables:
        lines = [f"{comment}{table.title}", "", render(table.frame, fmt).rstrip()]
        lines += [""] * bool(table.notes) + [f"{comment}{note}" for note in table.notes]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
