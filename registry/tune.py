"""Equal-trials tuning (``slide-bench tune``): every compared method gets the same number of Optuna trials
over the search space its head declares on its ``Options`` (:func:`registry.options.search_space`).

A trial is one configuration of the head's searched options. Its fine-tuning runs (every tuning
pretraining seed × fine-tuning seed) go through the runner, so they are stored and cached like any
other run; its value is the mean *validation* score of those runs (by default the validation
counterpart of the task's primary metric: ``val_micro_f1`` for node classification; test scores are never read). The
tuning seeds must be disjoint from the reporting seeds. Trials live in an Optuna SQLite storage next
to the results store, one study per (dataset, pretrainer, slimmer, head, fixed options, seeds, metric,
preset, search space): a killed tune resumes, finished trials are never redone, and a trial cut short
is retried with the same configuration (its finished runs come from the store). The first trial of a
study is the official configuration when it lies inside the search space. The best configuration of
each study goes into a matrix spec that runs the reporting seeds (:func:`spec_toml`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, Callable

from registry.cache import config_hash
from registry.config import SECTIONS
from registry.errors import ConfigError, require_extra
from registry.options import Choice, Search, base_type, option_hints, search_space
from registry.runner import Cell, Runner
from registry.spec import MatrixSpec


@dataclass(frozen=True)
class Target:
    """One tuned method on one dataset and pretrainer: a matrix cell without its seeds (options it fixes
    included), and its row label in tables."""

    dataset: str
    pretrainer: str
    slimmer: str
    head: str
    preset: str = "official"
    sets: tuple[tuple[str, str, str], ...] = ()  # (section, option, value as text): fixed, not searched
    metric: str = "val_micro_f1"  # the validation score maximised
    row: str = ""

    @property
    def label(self) -> str:
        fixed = "".join(f" {s}.{o}={v}" for s, o, v in self.sets)
        return f"{self.pretrainer}/{self.slimmer}/{self.head}{fixed} {self.dataset}"

    def fixed(self, section: str) -> dict[str, str]:
        return {o: v for s, o, v in self.sets if s == section}


def validation_metric(task: Any) -> str:
    """The validation counterpart of a task's primary metric (``test_micro_f1`` → ``val_micro_f1``)."""
    metric = "val_" + task.primary.removeprefix("test_")
    if metric not in task.required_metrics:
        raise ConfigError(f"task '{task.name}' requires no validation metric '{metric}' to tune on: pass --metric")
    return metric


def targets(spec: MatrixSpec, registry: Any, extra_sets: dict[str, dict[str, Any]], metric: str | None = None) -> list[Target]:
    """Every method × dataset × pretrainer of a matrix spec, with its group's options and label; ``metric``
    (default: the validation counterpart of the dataset's task's primary metric) is maximised."""
    out: dict[tuple[Any, ...], Target] = {}
    for group in spec.groups:
        for cell in spec.group_cells(registry, group, extra_sets):
            row = group.label or spec.label(cell.slimmer, cell.head) or f"{cell.slimmer}/{cell.head}"
            target = Target(cell.dataset, cell.pretrainer, cell.slimmer, cell.head, cell.preset, cell.sets,
                            metric or validation_metric(registry.task_of(cell.dataset)), row)
            out.setdefault((*dataclasses.astuple(target)[:-1],), target)
    datasets = list(dict.fromkeys(t.dataset for t in out.values()))
    return sorted(out.values(), key=lambda t: datasets.index(t.dataset))  # a dataset's methods together


@dataclass
class Settings:
    """What every study of one ``tune`` call shares."""

    trials: int
    seeds: list[int]  # tuning pretraining seeds
    finetune_seeds: list[int]
    report_seeds: list[int]
    report_finetune_seeds: list[int]
    startup_trials: int = 5  # random trials before TPE
    sampler_seed: int = 0


def check_seeds(settings: Settings) -> None:
    """Tuning seeds that are also reporting seeds would select on the runs that are reported."""
    shared = sorted(set(settings.seeds) & set(settings.report_seeds))
    if shared:
        raise ConfigError(f"tuning seeds and reporting seeds overlap ({', '.join(map(str, shared))}): tune on "
                          "pretraining seeds that are never reported (e.g. --seeds 100 101)")


def space_of(runner: Runner, target: Target) -> dict[str, tuple[Search | Choice, Any]]:
    """The head's searched options (minus those the target fixes) with their spaces and annotations."""
    head = runner.registry.get("head", target.head)
    hints, fixed = option_hints(head.Options), target.fixed("head")
    space = {name: (s, hints[name]) for name, s in search_space(head.Options).items() if name not in fixed}
    if not space:
        raise ConfigError(f"head '{head.name}' declares no search space on its options (registry.options.Search "
                          f"or Choice) that {target.label} leaves open: nothing to tune")
    return space


def study_name(target: Target, settings: Settings, space: dict[str, Any]) -> str:
    """Readable and unique: the target, then a hash of everything else that defines the study."""
    key = {"target": dataclasses.astuple(target)[:-1], "seeds": settings.seeds, "finetune_seeds": settings.finetune_seeds,
           "space": {name: str(s) for name, (s, _) in sorted(space.items())}}
    return f"{target.pretrainer}/{target.dataset}/{target.slimmer}/{target.head}/{config_hash(key)[:12]}"


def suggest(trial: Any, name: str, space: Search | Choice, annotation: Any) -> Any:
    if isinstance(space, Choice):
        return trial.suggest_categorical(name, list(space.values))
    if base_type(annotation) is int:
        return trial.suggest_int(name, int(space.low), int(space.high), log=space.log)
    return trial.suggest_float(name, float(space.low), float(space.high), log=space.log)


def cells(target: Target, settings: Settings, params: dict[str, Any]) -> list[Cell]:
    """A trial's fine-tuning runs: every tuning seed × fine-tuning seed, with the fixed and tried options."""
    sets = {(s, o): v for s, o, v in target.sets} | {("head", o): json.dumps(v) for o, v in params.items()}
    triples = tuple((s, o, v) for (s, o), v in sorted(sets.items(), key=lambda kv: (list(SECTIONS).index(kv[0][0]), kv[0][1])))
    return [Cell(target.dataset, target.pretrainer, target.slimmer, target.head, seed, ft, target.preset, triples)
            for seed in settings.seeds for ft in settings.finetune_seeds]


def official(runner: Runner, target: Target, settings: Settings, space: dict[str, Any]) -> dict[str, Any] | None:
    """The searched options' values in the target's own runs (official per-dataset and per-slimmer values,
    preset, fixed options), if every one lies inside its space."""
    options = runner.resolve(cells(target, settings, {})[0]).options["head"]
    values = {name: getattr(options, name) for name in space}
    return values if all(s.contains(values[name]) for name, (s, _) in space.items()) else None


def counted(study: Any) -> list[Any]:
    """Trials that count against the budget, in order: finished ones, and configurations whose runs failed."""
    from optuna.trial import TrialState

    return [t for t in study.get_trials(deepcopy=False) if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
            or (t.state == TrialState.FAIL and not t.user_attrs.get("interrupted"))]


def recover(study: Any, storage: Any) -> None:
    """A trial left running by a killed tune, or cut short, is retried once with the same configuration."""
    from optuna.trial import TrialState

    study_id = storage.get_study_id_from_name(study.study_name)
    trials = study.get_trials(deepcopy=False)
    for t in trials:
        if t.state == TrialState.RUNNING:  # the tune that ran it was killed (the caller holds the storage's lock)
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
            storage.set_trial_user_attr(trial_id, "interrupted", True)
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        if t.user_attrs.get("interrupted") and t.number not in retried:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})


def tune(runner: Runner, storage: Any, target: Target, settings: Settings, say: Callable[[str], None]) -> Any:
    """Run the target's study up to ``settings.trials`` counted trials; returns the Optuna study."""
    optuna = require_extra("optuna", "tune", "slide-bench tune")
    space = space_of(runner, target)
    study = optuna.create_study(storage=storage, direction="maximize", load_if_exists=True,
                                study_name=study_name(target, settings, space))
    done = len(study.get_trials(deepcopy=False))  # a resumed study draws new values, not the first ones again
    study.sampler = optuna.samplers.TPESampler(seed=settings.sampler_seed + done, n_startup_trials=settings.startup_trials)
    if not done:
        start = official(runner, target, settings, space)
        if start is not None:
            study.enqueue_trial(start, user_attrs={"official": True})
    recover(study, storage)

    def objective(trial: Any) -> float:
        params = {name: suggest(trial, name, s, annotation) for name, (s, annotation) in space.items()}
        try:
            resolved = runner.run(cells(target, settings, params))
        except BaseException:  # interrupted or bad input: the trial did not run, retry it next time
            trial.set_user_attr("interrupted", True)
            raise
        df = runner.store.frame(keys=[r.key for r in resolved])
        trial.set_user_attr("run_keys", [r.key for r in resolved])
        ok = df[df["status"] == "ok"] if len(df) else df
        if len(ok) < len(resolved):
            say(f"tune {target.label}: trial {trial.number}: {len(resolved) - len(ok)} run(s) failed: no value")
            return math.nan
        if target.metric not in ok.columns:
            raise ConfigError(f"--metric {target.metric}: head '{target.head}' reports no such score")
        by_seed = ok.groupby("seed")[target.metric].mean()  # fine-tuning seeds first, then pretraining seeds
        return float(by_seed.mean())

    def report(study: Any, trial: Any) -> None:
        value = "failed" if trial.value is None else f"{trial.value:.4f}"
        best = best_trial(study, settings.trials)
        best = f", best {best.value:.4f}" if best is not None else ""
        shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items())
        say(f"tune {target.label}: trial {len(counted(study))}/{settings.trials}: {target.metric} {value}{best} ({shown})")

    remaining = settings.trials - len(counted(study))
    if remaining > 0:
        study.optimize(objective, n_trials=remaining, callbacks=[report])
    return study


def best_trial(study: Any, trials: int) -> Any:
    """Among the first ``trials`` counted trials (a study resumed with more has more), the one with the
    highest value (the earliest on a tie), or None."""
    done = [t for t in counted(study)[:trials] if t.value is not None]
    return max(done, key=lambda t: (t.value, -t.number)) if done else None


def _typed(value: Any) -> Any:
    """A ``--set`` string as the TOML value it spells (``"5"`` → 5), else the string."""
    try:
        return json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        return value


def spec_toml(name: str, results: list[tuple[Target, Any]], settings: Settings, command: str) -> str:
    """A matrix spec running each target's best configuration (one ``[[group]]`` each, labelled) on the
    reporting seeds; a comment line per target says which trial won, on what validation score."""
    tomli_w = require_extra("tomli_w", "tune", "slide-bench tune")
    seeds = ", ".join(map(str, settings.seeds))
    lines = [f"# Written by: {command}",
             f"# Best of {settings.trials} trials per method: mean validation score over tuning pretraining seeds "
             f"{seeds} × fine-tuning seeds {', '.join(map(str, settings.finetune_seeds))}; test scores never read."]
    groups = []
    for target, study in results:
        best = best_trial(study, settings.trials)
        if best is None:
            lines.append(f"# {target.label}: no finished trial, left out")
            continue
        lines.append(f"# {target.label}: trial #{best.number}, {target.metric} "
                     f"{best.value:.4f}{' (the official configuration)' if best.user_attrs.get('official') else ''}")
        sets: dict[str, dict[str, Any]] = {}
        for section, option, value in target.sets:
            sets.setdefault(section, {})[option] = _typed(value)
        sets.setdefault("head", {}).update(best.params)
        groups.append({"datasets": [target.dataset], "pretrainers": [target.pretrainer], "slimmers": [target.slimmer],
                       "heads": [target.head], "preset": target.preset, "label": target.row, "set": sets})
    doc = {"name": name, "description": f"tuned ({settings.trials} trials per method, seeds {seeds}), "
                                        "run on the reporting seeds",
           "datasets": sorted({t.dataset for t, _ in results}), "pretrainers": sorted({t.pretrainer for t, _ in results}),
           "seeds": settings.report_seeds, "finetune_seeds": settings.report_finetune_seeds, "group": groups}
    return "\n".join(lines) + "\n" + tomli_w.dumps(doc)
