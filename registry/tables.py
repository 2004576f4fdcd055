"""Result tables from the store's long frame: rows = method, columns = dataset, cells = mean ± std."""

from __future__ import annotations

import pandas as pd

METRICS = {"test_micro_f1": "F1-Mi", "test_macro_f1": "F1-Ma"}


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


def render(df: pd.DataFrame, fmt: str = "markdown") -> str:
    if df.empty:
        return "(no results)"
    if fmt == "markdown":
        return df.to_markdown(index=False)
    if fmt == "csv":
        return df.to_csv(index=False)
    if fmt == "latex":
        return df.style.hide(axis="index").to_latex(hrules=True)
    raise ValueError(f"unknown format '{fmt}' (markdown, csv, latex)")
