"""Runs cells — (dataset, pretrainer, slimmer, head, pretraining seed, fine-tuning seed, options) — into the store.

Every cell is resolved (names and options validated) and checked (its data loads, its slimmer
accepts the encoder) before any training starts; each finished cell is written at once; a cell that
raises is stored as ``failed`` (``oom`` for out-of-memory) and the others go on, except for bad input
(a ``SlideBenchError``), which stops the run. Cells already stored as ``ok`` (or as ``oom`` on the
same device) are skipped unless forced; ``failed`` ones are retried. Cells run grouped by pretrained
encoder, so each (dataset, pretrainer, options, seed) pretrains once and every slimmer and head reuses it.
"""

from __future__ import annotations

import functools
import platform
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from tqdm.auto import tqdm

import registry as registry_package
from registry.cache import EncoderCache, config_hash, hash_template, seeded_hash
from registry.checks import check_encoder
from registry.components import RunContext
from registry.config import SECTIONS, options_dict, resolve_options
from registry.datasets import load_dataset
from registry.device import peak_memory_mb, reset_peak_memory, resolve_device, set_threads
from registry.errors import ConfigError, PluginError, SlideBenchError
from registry.metrics import count_parameters
from registry.numerics import check_finite_weights, check_metrics
from registry.options import SEED_RANGE
from registry.registry import Registry
from registry.seed import derive_seed, seed_everything
from registry.store import ResultsStore
from registry.tasks import NODE

if TYPE_CHECKING:  # torch loads when a run starts, not when the plan is made (a no-op rerun never loads it)
    import torch


@dataclass(frozen=True)
class Cell:
    dataset: str
    pretrainer: str
    slimmer: str = "original"
    head: str = "linear"
    seed: int = 0
    finetune_seed: int = 0
    preset: str = "official"
    sets: tuple[tuple[str, str, Any], ...] = ()  # (section, option, value)
    origins: tuple[tuple[str, str, str], ...] = field(default=(), compare=False)  # (section, option, where set)

    def sets_for(self, section: str) -> dict[str, Any]:
        return {option: value for sec, option, value in self.sets if sec == section}

    def origins_for(self, section: str) -> dict[str, str]:
        """Where the user set each of the section's options (a spec's table), for errors; unnamed: ``--set``."""
        return {option: where for sec, option, where in self.origins if sec == section}

    @property
    def label(self) -> str:
        return (f"{self.pretrainer}/{self.slimmer}/{self.head} {self.dataset} pretrain seed {self.seed}, "
                f"finetune seed {self.finetune_seed}")


@dataclass
class Resolved:
    cell: Cell
    components: dict[str, Any]
    options: dict[str, Any]
    config: dict[str, Any]
    key: str
    pretraining_key: str = ""  # what identifies its pretrained encoder (see pretraining_key)


def is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)) or "out of memory" in str(exc).lower()


def library_versions() -> dict[str, str]:
    import torch
    import torch_geometric

    return {"slide-bench": registry_package.__version__, "torch": torch.__version__,
            "torch_geometric": torch_geometric.__version__, "python": platform.python_version(),
            "torch_threads": str(torch.get_num_threads())}


def progress_factory(quiet: bool) -> Callable[..., Any]:
    """tqdm bars on a terminal, nested under the matrix bar and cleared when done; none in quiet
    mode or when stderr is not a terminal."""
    def progress(iterable: Iterable[Any], **kwargs: Any) -> Any:
        kwargs.setdefault("leave", False)
        return tqdm(iterable, disable=True if quiet else None, dynamic_ncols=True, **kwargs)

    return progress


def required_metrics(resolved: Resolved) -> tuple[str, ...]:
    """What the cell's head must return: its task's required metrics and the head's own."""
    extra = resolved.components["head"].required_metrics
    return tuple(dict.fromkeys((*resolved.components["task"].required_metrics, *extra)))


def pretraining_key(resolved: Resolved) -> str:
    """What identifies a pretrained encoder in this process: dataset, pretrainer, its options and the seed."""
    if resolved.pretraining_key:
        return resolved.pretraining_key
    config = resolved.config
    return config_hash({k: config[k] for k in ("dataset", "pretrainer", "seed", "split_seed")})


@dataclass
class Runner:
    registry: Registry
    store: ResultsStore
    cache: EncoderCache
    device_spec: torch.device | str | None  # a torch.device, or "auto" | "cpu" | "cuda[:N]" resolved on first use
    data_root: str | Path | None = None
    quiet: bool = False
    threads: int | None = None  # CPU threads for torch, set when a spec resolves (see registry.device.set_threads)
    _data: dict[tuple[str, int], Any] = field(default_factory=dict)
    _checked: set[str] = field(default_factory=set)
    _pretrain_errors: dict[str, Exception] = field(default_factory=dict)
    _resolved: dict[tuple[Any, ...], Any] | None = None  # during plan(): resolutions without seeds
    _force: bool = False  # pretrain again, once per encoder, whatever the cache holds (--force)
    _refreshed: set[str] = field(default_factory=set)

    @functools.cached_property
    def device(self) -> torch.device:
        """Where runs go; a spec is resolved (and torch loaded) only when something is to run."""
        if not isinstance(self.device_spec, str):
            return self.device_spec
        device = resolve_device(self.device_spec)
        set_threads(self.threads, device)
        return device

    def resolve(self, cell: Cell) -> Resolved:
        """Canonical names and fully resolved options; raises on unknown names, bad options or seeds.
        Within :meth:`plan`, cells that differ only in their seeds share one resolution (a 100,000-cell
        plan takes seconds)."""
        for what, seed in (("seed", cell.seed), ("fine-tuning seed", cell.finetune_seed)):
            if not SEED_RANGE.accepts(seed) or not isinstance(seed, int):
                raise ConfigError(f"{what} {seed!r} is invalid (valid: int {SEED_RANGE})")
        unseeded = (cell.dataset, cell.pretrainer, cell.slimmer, cell.head, cell.preset, cell.sets)
        try:
            base = self._resolved.get(unseeded) if self._resolved is not None else None
            if base is None:
                base = self._resolve_unseeded(cell)
                if self._resolved is not None:
                    self._resolved[unseeded] = base
        except TypeError:  # unhashable option values: resolve this cell alone
            base = self._resolve_unseeded(cell)
        components, options, config, key_template, encoder_key = base
        config = {**config, "seed": cell.seed, "finetune_seed": cell.finetune_seed}
        key = seeded_hash(key_template, cell.seed, cell.finetune_seed)
        return Resolved(cell, components, options, config, key, f"{encoder_key}-{cell.seed}")

    def _resolve_unseeded(self, cell: Cell) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], str, str]:
        dataset = self.registry.get("dataset", cell.dataset)
        components = {kind: self.registry.get(kind, getattr(cell, attr)) for attr, kind in
                      (("pretrainer", "pretrainer"), ("slimmer", "slimmer"), ("head", "head"))}
        components["task"] = task = self.registry.task_of(dataset.name)
        self._check_task(task, dataset.name, components)
        pretrainer_name = components["pretrainer"].name
        options = {kind: resolve_options(components[kind], dataset.name, pretrainer_name, cell.preset,
                                         cell.sets_for(section),
                                         self.registry.supplied_overrides(kind, components[kind].name),
                                         components["slimmer"].name, cell.origins_for(section))
                   for section, kind in SECTIONS.items()}
        config = {
            "dataset": dataset.name, "split_seed": 0,
            **{kind: {"name": components[kind].name, "version": components[kind].version,
                      "options": options_dict(options[kind])} for kind in options},
        }
        components["dataset"] = dataset
        encoder_key = config_hash({k: config[k] for k in ("dataset", "pretrainer", "split_seed")})
        return components, options, config, hash_template(config), encoder_key

    def _check_task(self, task: Any, dataset: str, components: dict[str, Any]) -> None:
        """The head and the pretrainer support the dataset's task; else one line naming those that do."""
        for kind in ("head", "pretrainer"):
            component = components[kind]
            if task.name not in component.tasks:
                fits = [c.name for c in (e.obj for e in self.registry.entries[kind].values()) if task.name in c.tasks]
                raise ConfigError(f"{kind} '{component.name}' does not support {task.name}, the task of dataset "
                                  f"'{dataset}'; {kind}s for {task.name}: {', '.join(fits) or '(none registered)'}")

    def check(self, resolved: Resolved) -> None:
        """Fail before any training: the dataset loads and, when the pretrainer can build an untrained
        encoder (``init_encoder(data, options)``), it follows the encoder contract and the slimming
        strategy accepts it."""
        data = self._load(resolved)
        pretrainer, options = resolved.components["pretrainer"], resolved.options
        check_key = config_hash({k: resolved.config[k] for k in ("dataset", "pretrainer", "slimmer")})
        if check_key in self._checked:
            return
        try:
            encoder = pretrainer.init_encoder(pretrainer.prepare(data, options["pretrainer"]), options["pretrainer"])
        except (ValueError, TypeError) as exc:  # options that pass their own validation but build nothing
            raise ConfigError(f"pretrainer '{pretrainer.name}' cannot build its encoder for "
                              f"{resolved.config['dataset']}: {exc}") from None
        if encoder is not None:
            check_encoder(encoder, self._who(resolved, "pretrainer", "init_encoder"), cached=True)
            self.slim(resolved, encoder)
        self._checked.add(check_key)

    def _who(self, resolved: Resolved, kind: str, method: str) -> str:
        name = resolved.components[kind].name
        return f"plugin '{self.registry.plugin_of(kind, name)}': {kind} '{name}' {method}()"

    def slim(self, resolved: Resolved, encoder: torch.nn.Module) -> torch.nn.Module:
        """The cell's slimmer applied to ``encoder``; an encoder it cannot take is a ConfigError, a result
        that breaks the encoder contract (or is ``encoder`` itself) a PluginError."""
        try:
            slim = resolved.components["slimmer"].slim(encoder, resolved.options["slimmer"], resolved.cell.seed)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"slimmer '{resolved.config['slimmer']['name']}' cannot slim the "
                              f"{resolved.config['pretrainer']['name']} encoder for {resolved.config['dataset']}: "
                              f"{exc}") from None
        who = self._who(resolved, "slimmer", "slim")
        if slim is encoder:
            raise PluginError(f"{who} returned the encoder it was given; return a new module (copy.deepcopy)")
        check_encoder(slim, who)
        return slim

    def _load(self, resolved: Resolved) -> Any:
        spec = resolved.components["dataset"]
        key = (spec.name, resolved.config["split_seed"])
        if key not in self._data:
            data = load_dataset(spec, self.data_root, split_seed=key[1])
            task = resolved.components["task"]
            try:
                if task.check_data is not None:
                    task.check_data(data)
            except ValueError as exc:
                raise PluginError(f"plugin '{self.registry.plugin_of('dataset', spec.name)}': dataset '{spec.name}' "
                                  f"is {task.name}, but {exc}") from None
            self._data[key] = data
        return self._data[key]

    def pretrained(self, resolved: Resolved) -> tuple[torch.nn.Module, Any, bool, float]:
        """The pretrained encoder (from the cache, or pretrained now), the prepared data, whether it
        came from the cache, and the pretraining time."""
        cell, opts = resolved.cell, resolved.options
        pretrainer = resolved.components["pretrainer"]
        data = pretrainer.prepare(self._load(resolved), opts["pretrainer"])

        def pretrain() -> torch.nn.Module:
            seed_everything(cell.seed)
            ctx = RunContext(self.device, cell.seed, progress_factory(self.quiet))
            encoder = pretrainer.pretrain(data, opts["pretrainer"], ctx)
            check_encoder(encoder, self._who(resolved, "pretrainer", "pretrain"), cached=True)
            check_finite_weights(encoder, f"the encoder pretrained by '{pretrainer.name}'")
            return encoder

        key = pretraining_key(resolved)
        if key in self._pretrain_errors:  # failed earlier in this invocation: do not pretrain again
            raise self._pretrain_errors[key]
        start = time.perf_counter()
        try:
            encoder, cached = self.cache.get_or_pretrain(
                resolved.config["dataset"], pretrainer.name, pretrainer.version,
                resolved.config["pretrainer"]["options"], cell.seed, pretrainer.build_encoder, pretrain, self.device,
                force=self._force and key not in self._refreshed)
            if not cached:  # pretrained in this invocation: --force does not redo it
                self._refreshed.add(key)
        except Exception as exc:
            self._pretrain_errors[key] = exc
            raise
        return encoder, data, cached, time.perf_counter() - start

    def execute(self, resolved: Resolved) -> dict[str, Any]:
        """Pretrain (or load from the cache), slim, fine-tune; returns the metrics and diagnostics."""
        cell, comp, opts = resolved.cell, resolved.components, resolved.options
        encoder, data, cached, pretrain_time = self.pretrained(resolved)
        original_params = count_parameters(encoder)
        slim = self.slim(resolved, encoder).to(self.device)
        slim_params = count_parameters(slim)
        finetune_seed = derive_seed(cell.seed, cell.finetune_seed)
        seed_everything(finetune_seed)
        ctx = RunContext(self.device, finetune_seed, progress_factory(self.quiet))
        metrics = comp["head"].fit(slim, data, opts["head"], ctx)
        check_metrics(metrics, required_metrics(resolved), f"head '{comp['head'].name}'")
        check_finite_weights(slim, f"the encoder fine-tuned by head '{comp['head'].name}'")
        metrics.update(encoder_params_original=original_params, encoder_params=slim_params,
                       param_change_pct=100.0 * (slim_params - original_params) / original_params,
                       pretrain_cached=cached, pretrain_time_s=0.0 if cached else pretrain_time)
        return {"metrics": metrics, "diagnostics": ctx.diagnostics}

    def plan(self, cells: Iterable[Cell], force: bool = False) -> tuple[list[Resolved], list[Resolved]]:
        """Resolve every cell (raises before any training on an unknown name or a bad option);
        returns all of them (duplicates dropped) and those to run, grouped by pretrained encoder."""
        self._resolved = {}
        try:
            resolved = list({r.key: r for r in map(self.resolve, cells)}.values())
        finally:
            self._resolved = None
        done = set() if force else self.store.done_keys()
        if not force and any(r.key not in done for r in resolved) and self.store.has_status("oom"):
            # out-of-memory rows count on their device (resolving it loads torch: only when there are some)
            done = self.store.done_keys(str(self.device))
        todo = [r for r in resolved if r.key not in done]
        order: dict[str, int] = {}
        todo.sort(key=lambda r: order.setdefault(pretraining_key(r), len(order)))
        return resolved, todo

    def run(self, cells: Iterable[Cell], force: bool = False) -> list[Resolved]:
        """Resolve and check all cells (fail fast), then run and store the ones not yet done. With
        ``force``, each encoder is pretrained again once, whatever the cache holds."""
        resolved, todo = self.plan(cells, force)
        if todo and self.cache is not None:
            self.cache.check_writable()
        for item in todo:  # bad input (data that cannot be loaded, a slimmer that cannot take the encoder)
            self.check(item)  # stops here, before any training
        self._force = force
        bar = tqdm(todo, desc="matrix", unit="run", disable=True if self.quiet else None, dynamic_ncols=True)
        for item in bar:
            bar.set_postfix_str(item.cell.label, refresh=True)
            row = self._run_one(item)
            self.store.write(row)
            self._report(row, item.cell, bar)
        return resolved

    def new_row(self, item: Resolved) -> dict[str, Any]:
        """A cell's row before it runs: identity, configuration, device, versions."""
        cell = item.cell
        return dict(
            key=item.key, dataset=item.config["dataset"], pretrainer=item.config["pretrainer"]["name"],
            slimmer=item.config["slimmer"]["name"], head=item.config["head"]["name"], seed=cell.seed,
            finetune_seed=cell.finetune_seed, preset=cell.preset, config=item.config, device=str(self.device),
            versions=library_versions(), error=None, metrics={}, diagnostics=[],
            task=item.components["task"].name, required=list(required_metrics(item)))

    def _run_one(self, item: Resolved) -> dict[str, Any]:
        reset_peak_memory(self.device)
        start = time.perf_counter()
        row = self.new_row(item)
        try:
            row.update(self.execute(item), status="ok")
        except (KeyboardInterrupt, SlideBenchError):  # bad input fails every cell alike: stop, one line
            raise
        except Exception as exc:  # recorded, and the matrix goes on
            row.update(status="oom" if is_oom(exc) else "failed",
                       error=f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}")
            if self.device.type == "cuda":
                import torch

                torch.cuda.empty_cache()
        row["wall_time_s"] = time.perf_counter() - start
        row["peak_memory_mb"] = peak_memory_mb(self.device)
        return row

    def report_line(self, row: dict[str, Any], cell: Cell) -> str:
        """The one line printed for a finished cell: the task's table metrics, the parameter change, the time."""
        m = row["metrics"]
        if row["status"] == "ok":
            task = self.registry.get("task", row.get("task") or NODE)
            scores = "  ".join(f"{label} {m[metric]:.2f}" for metric, label in task.metrics.items())
            return f"ok     {cell.label}: {scores}  params {m['param_change_pct']:+.1f}%  ({row['wall_time_s']:.1f}s)"
        return f"{row['status']:<6} {cell.label}: {row['error'].splitlines()[0]}"

    def _report(self, row: dict[str, Any], cell: Cell, bar: Any) -> None:
        line = self.report_line(row, cell)
        if self.quiet:
            print(line, flush=True)
        else:
            bar.write(line)
