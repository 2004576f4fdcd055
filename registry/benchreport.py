"""A Markdown timing report from a pytest-benchmark JSON file (``pytest --benchmark-json=PATH``).

Each benchmark is one timed operation; its ``extra_info`` carries ``operation`` (e.g.
``finetune-epoch``) and ``labels`` (e.g. ``{"dataset": "Cora", "head": "full", ...}``); benchmarks
without them are reported under their group with their pytest parameters as labels. The report has
one table per operation (median and IQR over the timed rounds) and, where a *baseline* is declared
for the operation, each row's time relative to the baseline row of the same context. *Targets*
check speed-ups: ``speed-up = baseline median / candidate median``, compared within a context, i.e.
rows that agree on every label the candidate and baseline do not name (dataset, device, ...).

Baselines and targets are data (a TOML file beside the suite, ``benchmarks/targets.toml``)::

    [baselines]
    finetune-epoch = { head = "full", slimmer = "original" }

    [[targets]]
    name = "linear probe vs full fine-tuning"
    operation = "finetune-epoch"
    candidate = { head = "linear", slimmer = "original" }
    baseline = { head = "full", slimmer = "original" }
    min_speedup = 20          # or max_ratio = 1.2 (candidate / baseline)
    where = { device = ["cpu"] }   # optional filter on the context
    metric = "time"           # optional: what is compared (METRICS)

Benchmarks may record ``steps_per_epoch`` and ``epochs_per_run`` (the official number of epochs) in
``extra_info``: the report then shows the time per optimiser step and per official run; and
``peak_memory_mb`` / ``peak_delta_mb`` (peak memory, and what the call added to the memory in use
before it): the report shows both beside the time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from registry.errors import ConfigError

#: what a target compares: the median time per call, per optimiser step (``steps_per_epoch``), per
#: official run (``epochs_per_run``), or the peak memory the call added (``peak_delta_mb``)
METRICS = ("time", "step", "run", "memory")


@dataclass(frozen=True)
class Timing:
    operation: str
    labels: dict[str, str]
    median: float  # seconds
    iqr: float
    rounds: int
    extra: dict[str, Any] = field(default_factory=dict)

    def matches(self, selection: dict[str, Any]) -> bool:
        return all(self.labels.get(k) == str(v) for k, v in selection.items())

    def value(self, metric: str) -> float | None:
        """The timing's ``metric`` (see :data:`METRICS`); None when the benchmark did not record it."""
        if metric == "time":
            return self.median
        key = {"step": "steps_per_epoch", "run": "epochs_per_run", "memory": "peak_delta_mb"}[metric]
        if self.extra.get(key) is None:
            return None
        if metric == "step":
            return self.median / self.extra[key]
        return self.median * self.extra[key] if metric == "run" else float(self.extra[key])


@dataclass(frozen=True)
class Target:
    name: str
    operation: str
    candidate: dict[str, Any]
    baseline: dict[str, Any]
    min_speedup: float | None = None
    max_ratio: float | None = None
    where: dict[str, list[Any]] = field(default_factory=dict)
    metric: str = "time"

    def __post_init__(self) -> None:
        if (self.min_speedup is None) == (self.max_ratio is None):
            raise ConfigError(f"target '{self.name}' needs exactly one of min_speedup and max_ratio")
        if self.metric not in METRICS:
            raise ConfigError(f"target '{self.name}': metric must be one of {', '.join(METRICS)}, got '{self.metric}'")

    def passes(self, ratio: float) -> bool:
        """``ratio`` = candidate median / baseline median."""
        return ratio <= self.max_ratio if self.max_ratio is not None else 1.0 / ratio >= self.min_speedup

    @property
    def required(self) -> str:
        if self.metric == "memory":
            return f"≤ {self.max_ratio:g}× the memory" if self.max_ratio is not None else f"≥ {self.min_speedup:g}× less"
        return f"≤ {self.max_ratio:g}× the time" if self.max_ratio is not None else f"≥ {self.min_speedup:g}× faster"


def load_timings(report: dict[str, Any]) -> list[Timing]:
    timings = []
    for bench in report.get("benchmarks", []):
        extra = dict(bench.get("extra_info") or {})
        operation = extra.pop("operation", None) or bench.get("group") or bench["name"]
        labels = extra.pop("labels", None) or bench.get("params") or {"name": bench["name"]}
        stats = bench["stats"]
        timings.append(Timing(operation, {k: str(v) for k, v in labels.items()}, stats["median"], stats["iqr"],
                              stats["rounds"], extra))
    return timings


def load_targets(text: str) -> tuple[dict[str, dict[str, Any]], list[Target]]:
    """``(baselines by operation, targets)`` from the TOML text described in the module docstring."""
    data = tomllib.loads(text)
    try:
        targets = [Target(**t) for t in data.get("targets", [])]
    except TypeError as exc:
        raise ConfigError(f"bad target: {exc}") from None
    return dict(data.get("baselines", {})), targets


def context(timing: Timing, *selections: dict[str, Any]) -> dict[str, str]:
    named = set().union(*selections)
    return {k: v for k, v in timing.labels.items() if k not in named}


def pairs(timings: Iterable[Timing], operation: str, candidate: dict[str, Any],
          baseline: dict[str, Any]) -> list[tuple[dict[str, str], Timing, Timing | None]]:
    """Every candidate row of ``operation`` with the baseline row of its context (None if not measured)."""
    rows = [t for t in timings if t.operation == operation]
    found = []
    for cand in (t for t in rows if t.matches(candidate)):
        ctx = context(cand, candidate, baseline)
        base = next((t for t in rows if t.matches(baseline) and context(t, candidate, baseline) == ctx), None)
        found.append((ctx, cand, base))
    return found


def megabytes(mb: float | None) -> str:
    if mb is None:
        return "–"
    return f"{mb / 1024:.3g} GB" if mb >= 1024 else f"{mb:.3g} MB"


def duration(seconds: float) -> str:
    if math.isnan(seconds):
        return "–"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _machine(report: dict[str, Any]) -> str:
    info, commit = report.get("machine_info", {}), report.get("commit_info", {})
    cpu = info.get("cpu", {})
    parts = [f"{cpu.get('brand_raw', info.get('processor', '?'))} ({cpu.get('count', info.get('cpu_count', '?'))} cores)"]
    if info.get("cuda_device"):
        parts.append(f"CUDA {info.get('cuda')} on {info['cuda_device']}")
    parts += [f"torch {info.get('torch', '?')}", f"torch_geometric {info.get('torch_geometric', '?')}",
              f"python {info.get('python_version', '?')}"]
    if info.get("load_average"):
        parts.append("load average " + " / ".join(f"{x:.1f}" for x in info["load_average"]))
    lines = [f"- Run: {report.get('datetime', '?')}, pytest-benchmark {report.get('version', '?')}",
             f"- Machine: {', '.join(parts)}"]
    if commit.get("id"):
        lines.append(f"- Commit: {commit['id'][:12]}{' (dirty)' if commit.get('dirty') else ''}")
    return "\n".join(lines)


def _targets_section(timings: list[Timing], targets: list[Target]) -> str:
    rows = []
    for target in targets:
        found = [p for p in pairs(timings, target.operation, target.candidate, target.baseline)
                 if all(p[0].get(k) in {str(v) for v in values} for k, values in target.where.items())]
        show = megabytes if target.metric == "memory" else duration
        for ctx, cand, base in found:
            where = " ".join(ctx.values())
            value, reference = cand.value(target.metric), base.value(target.metric) if base else None
            if value is None or reference is None:
                shown = show(value) if value is not None else "not measured"
                rows.append([target.name, where, shown, "not measured", target.required, "–"])
                continue
            ratio = value / reference if reference else math.inf
            what = "memory" if target.metric == "memory" else "time"
            better = "less" if target.metric == "memory" else "faster"
            measured = f"{ratio:.2f}× the {what}" if target.max_ratio is not None else f"{1 / ratio:.2f}× {better}"
            rows.append([target.name, where, f"{show(value)} vs {show(reference)}", measured,
                         target.required, "PASS" if target.passes(ratio) else "FAIL"])
        if not found:
            rows.append([target.name, "–", "not measured", "–", target.required, "–"])
    return _table(["target", "context", "candidate vs baseline (median time; memory: peak added)", "measured",
                   "required", "status"], rows)


def render_report(report: dict[str, Any], baselines: dict[str, dict[str, Any]] | None = None,
                  targets: Iterable[Target] = ()) -> str:
    """The Markdown report of a pytest-benchmark JSON document (already parsed)."""
    timings, baselines, targets = load_timings(report), baselines or {}, list(targets)
    out = ["# slide-bench timing report", "", _machine(report), "",
           "Times are per call of the operation (per epoch for `*-epoch`): median and interquartile range (IQR) "
           "over the timed rounds, after one warm-up round. Where an epoch takes several optimiser steps (mini-batches), "
           "`per step` divides the epoch time by them; `per run` multiplies it by the official number of epochs. "
           "`peak memory` is the peak resident set size (CPU; on CUDA the peak allocated memory) during the timed "
           "rounds, `added` its increase over the memory in use before them.", ""]
    if targets:
        out += ["## Targets", "", _targets_section(timings, targets), ""]
    for operation in dict.fromkeys(t.operation for t in timings):
        rows = [t for t in timings if t.operation == operation]
        keys = list(dict.fromkeys(k for t in rows for k in t.labels))
        header = keys + ["median", "IQR", "rounds"]
        baseline = baselines.get(operation)
        ratios: dict[int, Timing | None] = {}
        per_step = all(t.extra.get("steps_per_epoch") for t in rows)
        per_run = all(t.extra.get("epochs_per_run") for t in rows)
        memory = any(t.extra.get("peak_memory_mb") is not None for t in rows)
        if per_step:
            header += ["steps", "per step"]
        if per_run:
            header += ["epochs", "per run"]
        if memory:
            header += ["peak memory", "added"]
        if baseline:
            header += [f"÷ {'/'.join(str(v) for v in baseline.values())}", "speed-up"]
            header += ["speed-up per step"] if per_step else []
            header += ["speed-up per run"] if per_run else []
            ratios = {id(c): b for _, c, b in pairs(rows, operation, {}, baseline)}
        table = []
        for t in rows:
            row = [t.labels.get(k, "") for k in keys] + [duration(t.median), duration(t.iqr), str(t.rounds)]
            if per_step:
                row += [f"{t.extra['steps_per_epoch']:g}", duration(t.value("step"))]
            if per_run:
                row += [f"{t.extra['epochs_per_run']:g}", duration(t.value("run"))]
            if memory:
                row += [megabytes(t.extra.get("peak_memory_mb")), megabytes(t.extra.get("peak_delta_mb"))]
            if baseline:
                base = ratios.get(id(t))
                row += [f"{t.median / base.median:.3f}", f"{base.median / t.median:.2f}×"] if base else ["–", "–"]
                if per_step:
                    row += [f"{base.value('step') / t.value('step'):.2f}×" if base else "–"]
                if per_run:
                    row += [f"{base.value('run') / t.value('run'):.2f}×" if base else "–"]
            table.append(row)
        out += [f"## {operation}", "", _table(header, table), ""]
    return "\n".join(out)
