"""Figures of the redundancy analysis, from the records of ``slide-bench analyze`` (matplotlib, Agg):

- :func:`plot_cka` (Figure 2): CKA of slim models with the original against the neuron-removal rate;
- :func:`plot_adjacent` (Figure 3): CKA between adjacent layers of the original model;
- :func:`plot_params` (Figure 6): parameters left to fine-tune per slimming strategy.

Every function writes ``<out>/<name>.png`` and ``.pdf`` and returns their paths. Values are means
over pretraining seeds; bands and error bars are ± one (population) standard deviation.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def _save(fig: plt.Figure, out: Path, name: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    for path in paths:
        fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return paths


def _grid(panels: list[tuple[str, str]], width: float = 4.2, height: float = 3.4,
          ) -> tuple[plt.Figure, np.ndarray, list[str], list[str]]:
    """One axis per (pretrainer, dataset): rows = pretrainers, columns = datasets."""
    pretrainers = list(dict.fromkeys(p for p, _ in panels))
    datasets = list(dict.fromkeys(d for _, d in panels))
    fig, axes = plt.subplots(len(pretrainers), len(datasets), figsize=(width * len(datasets), height * len(pretrainers)),
                             squeeze=False)
    return fig, axes, pretrainers, datasets


def _seeds(part: pd.DataFrame) -> str:
    n = part["seed"].nunique()
    return f"{n} seed{'s' if n > 1 else ''}"


def plot_cka(df: pd.DataFrame, out: Path, name: str = "cka_slim_vs_original") -> list[Path]:
    """Figure 2. Solid: every layer loses the given share of neurons, CKA of each layer with the same
    layer of the original. Dashed: only layer i loses neurons, CKA of the output (last) layer."""
    panels = list(df.groupby(["pretrainer", "dataset"], sort=False).groups)
    fig, axes, pretrainers, datasets = _grid(panels)
    for (pretrainer, dataset), part in df.groupby(["pretrainer", "dataset"], sort=False):
        ax = axes[pretrainers.index(pretrainer), datasets.index(dataset)]
        depth = int(part["layer"].max())
        curves = [(part[(part["scope"] == "all") & (part["layer"] == l)], f"all layers slimmed: CKA at layer {l}",
                   COLORS[l - 1], "-", "o") for l in range(1, depth + 1)]
        curves += [(part[(part["scope"] == f"l{l}") & (part["layer"] == depth)],
                    f"only layer {l} slimmed: CKA at output (layer {depth})", COLORS[l - 1], "--", "s")
                   for l in range(1, depth + 1) if depth > 1]
        for rows, label, color, style, marker in curves:
            stats = rows.groupby("rate")["cka"].agg(["mean", lambda v: v.std(ddof=0)]).sort_index()
            stats.columns = ["mean", "std"]
            x = 100 * stats.index.to_numpy()
            ax.plot(x, stats["mean"], style, marker=marker, color=color, label=label, markersize=4, linewidth=1.6)
            ax.fill_between(x, stats["mean"] - stats["std"], stats["mean"] + stats["std"], color=color, alpha=0.15)
        ax.set_title(f"{pretrainer} · {dataset} ({_seeds(part)})")
        ax.set_xlabel("neurons removed per slimmed layer (%)")
        ax.set_ylabel("linear CKA with the original")
        ax.set_xlim(0, 100)
        ax.set_ylim(min(0.0, float(part["cka"].min()) - 0.05) if part["cka"].min() < 0.5 else 0.5, 1.01)
        ax.grid(alpha=0.3)
    nodes = ", ".join(f"{n:,}" for n in sorted(df["max_nodes"].unique()))
    fig.suptitle(f"Slim vs original: same-layer CKA (first ≤ {nodes} nodes)")
    _shared_legend(fig, axes)
    return _save(fig, out, name)


def _shared_legend(fig: plt.Figure, axes: np.ndarray) -> None:
    handles, labels = {}, []
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in handles:
                handles[label] = handle
                labels.append(label)
    fig.tight_layout()
    fig.legend([handles[l] for l in labels], labels, loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=2 if axes.shape[1] > 1 else 1, frameon=False)


def _pair_label(source: int, target: int) -> str:
    return f"{'input features' if source == 0 else f'layer {source}'} → layer {target}"


def plot_adjacent(df: pd.DataFrame, out: Path, name: str = "cka_adjacent_layers") -> list[Path]:
    """Figure 3: CKA between the input features and layer 1 and between each layer and the next."""
    pretrainers = list(dict.fromkeys(df["pretrainer"]))
    fig, axes = plt.subplots(1, len(pretrainers), figsize=(max(5.0, 1.6 * df["dataset"].nunique() + 2) * len(pretrainers), 3.8),
                             squeeze=False)
    for ax, pretrainer in zip(axes.flat, pretrainers):
        part = df[df["pretrainer"] == pretrainer]
        datasets = list(dict.fromkeys(part["dataset"]))
        pairs = sorted({(int(s), int(t)) for s, t in zip(part["source"], part["target"])})
        width = min(0.8 / len(pairs), 0.3)
        for j, (source, target) in enumerate(pairs):
            rows = part[(part["source"] == source) & (part["target"] == target)]
            stats = rows.groupby("dataset")["cka"].agg(["mean", lambda v: v.std(ddof=0)]).reindex(datasets)
            stats.columns = ["mean", "std"]
            x = np.arange(len(datasets)) + (j - (len(pairs) - 1) / 2) * width
            bars = ax.bar(x, stats["mean"], width, yerr=stats["std"], capsize=3, color=COLORS[j % len(COLORS)],
                          label=_pair_label(source, target))
            ax.bar_label(bars, labels=[f"{v:.2f}" if np.isfinite(v) else "" for v in stats["mean"]], fontsize=7,
                         padding=2)
        seeds = part.groupby("dataset")["seed"].nunique().reindex(datasets)
        ax.set_xticks(np.arange(len(datasets)), [f"{d}\n({n} seed{'s' if n > 1 else ''})" for d, n in seeds.items()])
        ax.set_xlim(-0.6, len(datasets) - 0.4)
        ax.set_ylim(0, 1.12)
        ax.set_ylabel("linear CKA")
        ax.set_title(f"{pretrainer}: adjacent layers of the original model")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, frameon=False, fontsize=8)
    fig.tight_layout()
    return _save(fig, out, name)


def plot_params(df: pd.DataFrame, out: Path, slimmers: list[str] | None = None,
                name: str = "params_per_strategy") -> list[Path]:
    """Figure 6: parameters of the slim GNN + linear classifier per dataset and slimming strategy (all of
    them are fine-tuned by FT and SLIDE), with the total's change against the original above each bar."""
    slimmers = slimmers or list(dict.fromkeys(df["slimmer"]))
    df = df[df["slimmer"].isin(slimmers)]
    slimmers = [s for s in slimmers if s in set(df["slimmer"])]
    pretrainers = list(dict.fromkeys(df["pretrainer"]))
    fig, axes = plt.subplots(len(pretrainers), 1, figsize=(max(6.0, 1.0 * len(slimmers) * df["dataset"].nunique() + 2),
                                                           3.8 * len(pretrainers)), squeeze=False)
    roles = {"original": "FT", "2-half": "SLIDE"}  # the strategies the paper's FT and SLIDE fine-tune
    for ax, pretrainer in zip(axes.flat, pretrainers):
        part = df[df["pretrainer"] == pretrainer]
        datasets = list(dict.fromkeys(part["dataset"]))
        full = part[part["slimmer"] == "original"].set_index("dataset")
        reference = (full["gnn_params"] + full["linear_params"]).reindex(datasets)
        width = 0.8 / len(slimmers)
        for j, slimmer in enumerate(slimmers):
            rows = part[part["slimmer"] == slimmer].set_index("dataset").reindex(datasets)
            x = np.arange(len(datasets)) + (j - (len(slimmers) - 1) / 2) * width
            gnn, linear = rows["gnn_params"] / 1e6, rows["linear_params"] / 1e6
            color = COLORS[j % len(COLORS)]
            label = f"{slimmer} ({roles[slimmer]})" if slimmer in roles else slimmer
            ax.bar(x, gnn, width, color=color, label=f"{label}: GNN")
            bars = ax.bar(x, linear, width, bottom=gnn, color=color, alpha=0.45, hatch="//", edgecolor="white")
            total = rows["gnn_params"] + rows["linear_params"]
            labels = [f"{t / 1e6:.2f}M\n{100 * (t - r) / r:+.1f}%" if np.isfinite(r) else f"{t / 1e6:.2f}M"
                      for t, r in zip(total, reference)]
            ax.bar_label(bars, labels=labels, fontsize=7, padding=2)
        ax.bar([np.nan], [np.nan], color="grey", alpha=0.45, hatch="//", edgecolor="white",
               label="linear classifier (stacked on top)")
        ax.set_xticks(np.arange(len(datasets)), datasets)
        ax.set_ylabel("parameters (millions)")
        ax.set_title(f"{pretrainer}: parameters of GNN + linear classifier; total and change vs original above bars")
        ax.grid(axis="y", alpha=0.3)
        ax.margins(y=0.2)
        ax.legend(fontsize=8, ncol=len(slimmers) + 1, loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False)
    fig.tight_layout()
    return _save(fig, out, name)


def plot_decorrelation(df: pd.DataFrame, out: Path, name: str = "decorrelation") -> list[Path]:
    """Weight diagnostics per epoch (from :func:`slide_plugin.diagnostics.diagnostics_frame`), one column per
    (dataset, pretrainer, method): the weights' range, the effective sample size over the batch size, and the
    balance loss under learned vs uniform weights. Lines are means over runs; bands span the runs. Columns of
    one head with another ``rff_input`` (raw vs standardised embeddings) sit side by side and share the
    y-axes of their rows."""
    methods = list(df.groupby(["dataset", "pretrainer", "slimmer", "head", "rff_input", "method"], sort=False).groups)
    fig, axes = plt.subplots(3, len(methods), figsize=(4.2 * len(methods), 8.4), squeeze=False, sharex="col",
                             sharey="row")
    for column, (dataset, pretrainer, slimmer, head, rff_input, method) in enumerate(methods):
        part = df[(df["dataset"] == dataset) & (df["pretrainer"] == pretrainer) & (df["method"] == method)]
        by_epoch = part.groupby("epoch")
        epochs = np.asarray(sorted(part["epoch"].unique()))
        panels = [
            (axes[0, column], [("weight_max", "max weight", COLORS[0]), ("weight_min", "min weight", COLORS[1])],
             "sample weight (uniform = 1)", False),
            (axes[1, column], [("ess_ratio", "ESS / batch size", COLORS[2])], "effective sample size / b", False),
            (axes[2, column], [("balance_uniform", "uniform weights (dashed)", COLORS[3]),
                               ("balance_learned", "learned weights", COLORS[4])], "balance loss (RFF cross-cov.)", True),
        ]
        for ax, series, ylabel, log in panels:
            for field_, label, color in series:
                stats = by_epoch[field_].agg(["mean", "min", "max"]).reindex(epochs)
                style = "--" if field_ == "balance_uniform" else "-"
                ax.plot(epochs, stats["mean"], style, color=color, label=label, linewidth=1.4)
                ax.fill_between(epochs, stats["min"], stats["max"], color=color, alpha=0.2)
            ax.set_ylabel(ylabel)
            ax.set_yscale("log" if log else "linear")
            if not log:
                ax.ticklabel_format(axis="y", useOffset=False)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        axes[0, column].axhline(1.0, color="grey", linewidth=0.8, linestyle=":")
        axes[0, column].set_title(f"{pretrainer} · {dataset} · {slimmer}/{head}, RFF input {rff_input} [{method}]\n"
                                  f"({part['key'].nunique()} runs)", fontsize=9)
        axes[2, column].set_xlabel("epoch")
    fig.suptitle("SLIDE's learned sample weights: how far from uniform, and what they do to the cross-covariance")
    fig.tight_layout()
    return _save(fig, out, name)
