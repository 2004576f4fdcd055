"""De-correlation diagnostics of stored runs: the per-epoch records SLIDE's weight learner writes
(weight min/max/std, effective sample size over the batch size, balance loss under uniform and under
the learned weights), as a long frame, a per-method summary and a figure (``slide-bench plot decorrelation``),
with what the weight learner's RFF map saw (``rff_input``: raw or standardised embeddings side by side).
"""

from __future__ import annotations

import pandas as pd

from registry.compare import method_names

KEYS = ["dataset", "pretrainer", "slimmer", "head", "rff_input", "method"]


def diagnostics_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, epoch) of the ``ok`` runs that logged weight diagnostics, with the run's
    keys, seeds, ``rff_input`` (``"raw"`` for runs stored before the option existed) and ``method`` (its
    readable name, :func:`registry.compare.method_names`); ordered so that the settings of one head sit side by side."""
    rows = []
    ok = runs[runs["status"] == "ok"]
    ok = ok.assign(method=method_names(ok)) if len(ok) else ok.assign(method=[])
    for run in ok.itertuples():
        for record in run.diagnostics or []:
            if "weight_min" in record:
                rows.append(dict(dataset=run.dataset, pretrainer=run.pretrainer, slimmer=run.slimmer, head=run.head,
                                 rff_input=run.config["head"]["options"].get("rff_input", "raw"),
                                 method=run.method, seed=run.seed, finetune_seed=run.finetune_seed,
                                 key=run.key, **record))
    df = pd.DataFrame(rows)
    if len(df):
        df["balance_ratio"] = df["balance_learned"] / df["balance_uniform"]
        df = df.sort_values(KEYS[:-1], kind="stable", ignore_index=True)
    return df


def diagnostics_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per method: runs, the extremes of the weights over all epochs and runs, the mean weight std, the
    lowest effective sample size ratio, and the balance loss under the learned weights relative to uniform
    weights (mean over epochs and runs; below 1 = the weights de-correlated the batch's RFF features), and
    the most label mass the weights moved between classes in an epoch (``class_shift``, total variation)."""
    grouped = df.groupby(KEYS, sort=False)
    return pd.DataFrame({
        "runs": grouped["key"].nunique(),
        "weight_min": grouped["weight_min"].min(),
        "weight_max": grouped["weight_max"].max(),
        "weight_std": grouped["weight_std"].mean(),
        "ess_ratio_min": grouped["ess_ratio"].min(),
        "balance_learned/uniform": grouped["balance_ratio"].mean(),
        "balance_uniform": grouped["balance_uniform"].mean(),
        "class_shift_max": grouped["class_shift"].max() if "class_shift" in df else float("nan"),
    }).reset_index().round({"weight_min": 4, "weight_max": 4, "ess_ratio_min": 6, "balance_learned/uniform": 4})
