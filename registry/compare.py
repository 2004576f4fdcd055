"""Paired comparisons of two methods over pretraining seeds, and where the spread comes from.

A *method* is a selector on stored runs: ``head=slide,slim=2-half,head.decorrelation=false``
(keys ``head``, ``slim``, ``pretrainer``, ``dataset``, or ``section.option`` matched against the
resolved config). Both methods are compared on the same dataset and pretrainer: for every
pretraining seed that both have, the score is averaged over fine-tuning seeds and the paired
difference A − B is taken (all heads of a seed start from the same pretrained encoder).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from registry.errors import ConfigError
from registry.tasks import BY_NAME, NODE, Task

SELECTOR_COLUMNS = {"head": "head", "slim": "slimmer", "slimmer": "slimmer", "pretrainer": "pretrainer",
                    "dataset": "dataset"}
SECTION_KINDS = {"pretrain": "pretrainer", "slim": "slimmer", "head": "head"}


def parse_selector(text: str) -> dict[str, str]:
    """``"head=slide,slim=2-half"`` → ``{"head": "slide", "slim": "2-half"}``."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise ConfigError(f"method selector parts are key=value, got '{part}' in '{text}'")
        out[key.strip()] = value.strip()
    if not out:
        raise ConfigError("empty method selector")
    return out


def _matches(value: Any, wanted: str) -> bool:
    if isinstance(value, bool):
        return str(value).lower() == wanted.lower()
    if isinstance(value, (int, float)):
        try:
            return float(wanted) == float(value)
        except ValueError:
            return False
    return str(value).lower() == wanted.lower()


def select(df: pd.DataFrame, selector: dict[str, str]) -> pd.DataFrame:
    """The ``ok`` runs matching every key of the selector."""
    mask = df["status"] == "ok"
    for key, wanted in selector.items():
        if key in SELECTOR_COLUMNS:
            mask &= df[SELECTOR_COLUMNS[key]].str.lower() == wanted.lower()
            continue
        section, dot, option = key.partition(".")
        if not dot or section not in SECTION_KINDS:
            raise ConfigError(f"unknown selector key '{key}' (head, slim, pretrainer, dataset or section.option)")
        kind = SECTION_KINDS[section]
        mask &= df["config"].map(lambda c: _matches(_setting(c, kind, option), wanted))
    return df[mask]


def _setting(config: dict[str, Any], kind: str, option: str) -> Any:
    """A component's option (or its ``version``) in a stored config; None when it has no such option."""
    part = config[kind]
    return part.get("version") if option == "version" else part["options"].get(option)


def _flat(config: dict[str, Any]) -> dict[str, Any]:
    """A run's method as selector keys: ``slim`` and ``head`` names, and ``section.option`` values."""
    return {"slim": config["slimmer"]["name"], "head": config["head"]["name"]} | {
        f"{section}.{key}": value for section, kind in SECTION_KINDS.items()
        for key, value in [("version", config[kind].get("version")), *config[kind]["options"].items()]}


def _varying(configs: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The selector keys whose values differ between ``configs``, each with its values (as written in a selector)."""
    flats = [_flat(c) for c in configs]
    values = {k: sorted({str(f.get(k)).lower() for f in flats}) for k in sorted(set().union(*flats))}
    return {k: v for k, v in values.items() if len({repr(f.get(k)) for f in flats}) > 1}


def _one_method(runs: pd.DataFrame, text: str, option: str) -> None:
    """A selector must pick one method per dataset and pretrainer: seeds of different settings are
    never averaged together. The error names the settings that differ and how to pick one with ``option``."""
    if runs["config"].map(method_id).nunique() <= 1:
        return
    varying = _varying(runs["config"].tolist())
    detail = "; ".join(f"{k} = {', '.join(values)}" for k, values in varying.items())
    hint = (f": add one of them to {option}, e.g. {option} '{text},{next(iter(varying))}={next(iter(varying.values()))[0]}'"
            if varying else f": make {option} more specific")
    raise ConfigError(f"{option} '{text}' matches runs of several settings on {runs['dataset'].iloc[0]}/"
                      f"{runs['pretrainer'].iloc[0]} ({detail or 'differing outside the components'}){hint}")


def per_seed(df: pd.DataFrame, metric: str) -> pd.Series:
    """Mean score per pretraining seed (over fine-tuning seeds)."""
    return df.groupby("seed")[metric].mean()


def bootstrap_ci(diffs: np.ndarray, level: float = 0.95, resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean, resampling pretraining seeds."""
    rng = np.random.default_rng(seed)
    means = rng.choice(diffs, size=(resamples, len(diffs)), replace=True).mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


MIN_SEEDS = 5  # below this many pretraining seeds, compare warns that its intervals and tests are rough


@dataclass
class Comparison:
    """One paired comparison. ``t_low``/``t_high``: the paired t-interval at level 1 − ``alpha``, which
    excludes 0 exactly when the paired t-test's p < ``alpha``; ``ci_low``/``ci_high``: the percentile
    bootstrap interval at ``level`` (over pretraining seeds)."""

    a: str
    b: str
    dataset: str
    pretrainer: str
    metric: str
    seeds: list[int]
    diffs: list[float]
    mean_a: float
    mean_b: float
    mean_diff: float
    ci_low: float
    ci_high: float
    p_ttest: float
    p_wilcoxon: float
    test: str
    alpha: float
    t_low: float = float("nan")
    t_high: float = float("nan")
    level: float = 0.95

    @property
    def p_value(self) -> float:
        return self.p_ttest if self.test == "t" else self.p_wilcoxon

    @property
    def verdict(self) -> str:
        if np.isnan(self.p_value) or self.p_value >= self.alpha:
            return "no detectable difference"
        return "better" if self.mean_diff > 0 else "worse"

    @property
    def warning(self) -> str | None:
        """A one-line caution when there are too few pretraining seeds to trust the numbers."""
        n = len(self.seeds)
        if n >= MIN_SEEDS:
            return None
        return (f"{self.dataset}/{self.pretrainer}: only {n} pretraining seed{'s' * (n != 1)} shared by A and B; "
                f"with fewer than {MIN_SEEDS} the intervals and p-values are rough and real differences are "
                "easily missed (run more seeds)")

    def as_row(self) -> dict[str, Any]:
        """For reading: rounded numbers, intervals as text."""
        return {"dataset": self.dataset, "pretrainer": self.pretrainer, "A": self.a, "B": self.b,
                "metric": self.metric, "n seeds": len(self.seeds), "A mean": round(self.mean_a, 2),
                "B mean": round(self.mean_b, 2), "A−B": round(self.mean_diff, 2),
                f"paired t {_pct(1 - self.alpha)} CI": f"[{self.t_low:+.2f}, {self.t_high:+.2f}]",
                "p (paired t)": round(self.p_ttest, 4),
                f"bootstrap {_pct(self.level)} CI": f"[{self.ci_low:+.2f}, {self.ci_high:+.2f}]",
                "p (Wilcoxon)": round(self.p_wilcoxon, 4), f"verdict (α={self.alpha}, {self.test})": self.verdict}

    def as_record(self) -> dict[str, Any]:
        """For machines: every number unrounded, each in its own field (NaN as None)."""
        numbers = dict(n_seeds=len(self.seeds), seeds=self.seeds, diffs=self.diffs, mean_a=self.mean_a,
                       mean_b=self.mean_b, mean_diff=self.mean_diff, t_level=1 - self.alpha, t_low=self.t_low,
                       t_high=self.t_high, p_ttest=self.p_ttest, bootstrap_level=self.level,
                       bootstrap_low=self.ci_low, bootstrap_high=self.ci_high, p_wilcoxon=self.p_wilcoxon)
        clean = {k: None if isinstance(v, float) and np.isnan(v) else v for k, v in numbers.items()}
        return {"dataset": self.dataset, "pretrainer": self.pretrainer, "a": self.a, "b": self.b,
                "metric": self.metric, **clean, "test": self.test, "alpha": self.alpha, "verdict": self.verdict}


def _pct(level: float) -> str:
    return f"{100 * level:.4g}%"


def paired(runs_a: pd.DataFrame, runs_b: pd.DataFrame, metric: str = "test_micro_f1", alpha: float = 0.05,
           test: str = "t", level: float = 0.95, a: str = "A", b: str = "B") -> Comparison | None:
    """The paired comparison of two sets of runs of one dataset and pretrainer (None: no shared seed)."""
    scores = pd.concat({"a": per_seed(runs_a, metric), "b": per_seed(runs_b, metric)}, axis=1).dropna()
    if scores.empty:
        return None
    diffs = (scores["a"] - scores["b"]).to_numpy()
    nan = float("nan")
    low, high = bootstrap_ci(diffs, level) if len(diffs) > 1 else (nan, nan)
    p_t, t_low, t_high = nan, nan, nan
    if len(diffs) > 1:
        result = stats.ttest_rel(scores["a"], scores["b"])
        interval = result.confidence_interval(confidence_level=1 - alpha)
        p_t, t_low, t_high = float(result.pvalue), float(interval.low), float(interval.high)
    nonzero = diffs[diffs != 0]
    p_w = float(stats.wilcoxon(diffs).pvalue) if len(nonzero) > 0 and len(diffs) > 1 else nan
    first = runs_a.iloc[0]
    return Comparison(a, b, first["dataset"], first["pretrainer"], metric, scores.index.tolist(), diffs.tolist(),
                      float(scores["a"].mean()), float(scores["b"].mean()), float(diffs.mean()), low, high, p_t, p_w,
                      test, alpha, t_low, t_high, level)


def compare(df: pd.DataFrame, a: str, b: str, metric: str | None = None, alpha: float = 0.05,
            test: str = "t", level: float = 0.95, tasks: Mapping[str, Task] = BY_NAME,
            options: tuple[str, str] = ("--a", "--b")) -> list[Comparison]:
    """One comparison per (dataset, pretrainer) that both methods have runs for, of ``metric`` (default:
    the primary metric of the dataset's task); ``options`` name the selectors in error messages."""
    if test not in ("t", "wilcoxon"):
        raise ConfigError(f"test must be 't' or 'wilcoxon', got '{test}'")
    runs_a, runs_b = select(df, parse_selector(a)), select(df, parse_selector(b))
    out = []
    for (dataset, pretrainer), part_a in runs_a.groupby(["dataset", "pretrainer"]):
        part_b = runs_b[(runs_b["dataset"] == dataset) & (runs_b["pretrainer"] == pretrainer)]
        _one_method(part_a, a, options[0])
        if len(part_b):
            _one_method(part_b, b, options[1])
        result = paired(part_a, part_b, metric or primary_metric(part_a, tasks), alpha, test, level, a, b)
        if result is not None:
            out.append(result)
    if not out:
        raise ConfigError(f"no pretraining seed has runs of both '{a}' and '{b}' (check the selectors and the store)")
    return out


def significance_marker(df: pd.DataFrame, baseline: str, alpha: float = 0.05,
                        test: str = "t") -> Callable[[pd.DataFrame, str], str]:
    """For ``slide-bench table --mark-vs``: a function of one table cell's runs and a metric that returns
    " ▲" / " ▼" when the cell's method is significantly better / worse than ``baseline`` (paired over
    pretraining seeds, same dataset and pretrainer), " =" when no difference is detected, and "" for the
    baseline's own cells or where no seed is shared."""
    base = select(df, parse_selector(baseline))
    if not (base["status"] == "ok").any():
        raise ConfigError(f"--mark-vs '{baseline}' matches no finished run in the store")

    def mark(cell: pd.DataFrame, metric: str) -> str:
        ok = cell[cell["status"] == "ok"]
        if ok.empty or ok["key"].isin(base["key"]).all():
            return ""
        first = ok.iloc[0]
        part_b = base[(base["dataset"] == first["dataset"]) & (base["pretrainer"] == first["pretrainer"])]
        if part_b.empty:
            return ""
        _one_method(part_b, baseline, "--mark-vs")
        result = paired(ok, part_b, metric, alpha, test)
        if result is None:
            return ""
        return {"better": " ▲", "worse": " ▼"}.get(result.verdict, " =")

    return mark


def method_id(config: dict[str, Any]) -> str:
    """A short id of everything in a run's config except its seeds: runs of one method share it."""
    from registry.cache import config_hash

    return config_hash({k: v for k, v in config.items() if k not in ("seed", "finetune_seed")})[:8]


def primary_metric(runs: pd.DataFrame, tasks: Mapping[str, Task] = BY_NAME) -> str:
    """The primary metric of the task of ``runs`` (node classification's for runs stored before tasks; for a
    task no plugin registers now, the first test metric its runs required)."""
    task = runs["task"].iloc[0] if "task" in runs and len(runs) else NODE
    if task in tasks:
        return tasks[task].primary
    return next(m for m in runs["required"].iloc[0] if m.startswith("test_"))


def method_names(runs: pd.DataFrame) -> pd.Series:
    """A readable name for each run's method, never a hash: ``slimmer/head``, plus the settings in which
    it differs from the other methods with that slimmer and head on its dataset and pretrainer."""
    ids = runs["config"].map(method_id)
    names = pd.Series("", index=runs.index, dtype=object)
    for _, part in runs.groupby(["dataset", "pretrainer", "slimmer", "head"]):
        configs = part["config"].groupby(ids[part.index]).first()  # one config per method
        flats = {method: _flat(c) | {k: v for k, v in c.items() if k not in ("seed", "finetune_seed")
                                     and not isinstance(v, dict)} for method, c in configs.items()}
        varying = [k for k in sorted(set().union(*flats.values()))
                   if len({repr(f.get(k)) for f in flats.values()}) > 1]
        for method, flat in flats.items():
            names[part.index[ids[part.index] == method]] = " ".join(
                [f"{flat['slim']}/{flat['head']}", *(f"{k}={str(flat.get(k)).lower()}" for k in varying)])
    return names


def variance_breakdown(df: pd.DataFrame, metric: str | None = None, tasks: Mapping[str, Task] = BY_NAME) -> pd.DataFrame:
    """Per method (named by :func:`method_names`): total variance of the score (default: its task's primary
    metric), and the shares from pretraining seeds (variance of the per-pretraining-seed means) and from
    fine-tuning seeds (mean within-seed variance)."""
    ok = df[df["status"] == "ok"].reset_index(drop=True)
    ok = ok.assign(method=method_names(ok))
    rows = []
    for keys, runs in ok.groupby(["dataset", "pretrainer", "method"], sort=False):
        part = runs.assign(score=runs[metric or primary_metric(runs, tasks)])
        between = part.groupby("seed")["score"].mean().var(ddof=0)
        within = part.groupby("seed")["score"].var(ddof=0).mean()
        total = between + within
        rows.append(dict(zip(["dataset", "pretrainer", "method"], keys),
                         runs=len(part), pretrain_seeds=part["seed"].nunique(),
                         finetune_seeds=part["finetune_seed"].nunique(), std=float(np.sqrt(total)),
                         pretrain_share=float(between / total) if total > 0 else float("nan"),
                         finetune_share=float(within / total) if total > 0 else float("nan")))
    return pd.DataFrame(rows)
