"""Matrix specs: a small TOML file naming what to run, expanded into the runner's cells.

Format (every key optional except the axes that end up empty)::

    name = "table3"                    # default: the file's stem
    description = "LP vs FT vs SLIDE"
    datasets = ["Cora", "CiteSeer"]    # names, or "*": everything registered of that kind
    pretrainers = ["graphmae"]
    slimmers = ["original"]
    heads = ["linear", "full"]
    seeds = [0, 1, 2, 3, 4]            # pretraining seeds: each pretrains (once, then cached)
    finetune_seeds = [0]               # fine-tuning seeds: heads re-run on the same encoder
    preset = "official"                # or "quick"
    percent_of = "LP"                  # optional: also each row's means in % of this row's ("X (% of LP)")

    [set]                              # options of every cell: section.option = value
    pretrain.epochs = 100              # sections: pretrain, slim, head

    [overrides.Cora]                   # options of one dataset's cells
    head.epochs = 50

    [labels]                           # row labels of the paper-shaped table ("slimmer/head")
    "original/linear" = "LP"

    [[group]]                          # optional: each group is a product of its own; what it
    slimmers = ["original"]            # omits comes from the top level, and its set/overrides
    heads = ["linear", "full"]         # are applied after the top level's
    [[group]]
    slimmers = ["2-half"]
    heads = ["slide"]
    label = "SLIDE w/o de"             # optional: the table row of this group's runs (beats [labels])
    [group.set]
    head.decorrelation = false

    [executor]                         # optional: where the cells run (the command line wins)
    name = "pool"                      # local (default) | pool | ray | slurm | a plugin's
    workers = 4                        # the executor's options, e.g. slurm: partition, time, gpus_per_run

The cells are the union over groups (the top level alone when there is none) of the product
dataset × pretrainer × seed × slimmer × head × fine-tuning seed, duplicates removed; where a group
takes ``"*"`` datasets, pretrainers or heads, the combinations whose pretrainer or head does not support
the dataset's task (:mod:`registry.tasks`) are left out. ``"*"``
expands to the registry's names, so a strategy added by a third-party plugin is picked up with
no change here. Option precedence per cell: component defaults → official per-dataset values →
preset → ``[set]`` → ``[overrides.<dataset>]`` → group ``set`` → group ``overrides`` → ``--set``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Iterable

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from registry.config import PRESETS, SECTIONS
from registry.errors import ConfigError, UnknownNameError
from registry.registry import Registry, normalize
from registry.runner import Cell

NAME_AXES = {"datasets": "dataset", "pretrainers": "pretrainer", "slimmers": "slimmer", "heads": "head"}
SEED_AXES = ("seeds", "finetune_seeds")
GROUP_KEYS = (*NAME_AXES, *SEED_AXES, "preset", "set", "overrides")
TOP_KEYS = ("name", "description", "labels", "percent_of", "group", "executor", *GROUP_KEYS)
BLOCK_KEYS = (*GROUP_KEYS, "label")
DEFAULTS: dict[str, Any] = {"slimmers": ["original"], "heads": ["linear"], "seeds": [0], "finetune_seeds": [0],
                            "preset": "official"}
Sets = dict[str, dict[str, Any]]  # section → option → value


@dataclass
class SpecFile:
    """A named matrix spec a plugin ships (``register_specs``): a TOML file in the format above. ``name``
    defaults to the file's stem, ``description`` to the file's ``description`` key."""

    path: Path
    name: str = ""
    description: str = ""
    kind: ClassVar[str] = "spec"

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.name = self.name or self.path.stem
        if not self.description and self.path.is_file():
            try:
                self.description = str(tomllib.loads(self.path.read_text()).get("description", ""))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"spec {self.path}: {exc}") from None


def shipped_specs() -> list[str]:
    """The core's own specs in ``registry/specs/`` (plugins add theirs with ``register_specs``)."""
    folder = resources.files("registry") / "specs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def spec_path(name_or_path: str | Path, registry: Registry | None = None) -> Path:
    """A path to an existing file, else a spec registered by that name (``registry``), else one shipped
    in ``registry/specs/``."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if registry is not None:
        entry = registry.entries["spec"].get(normalize(str(name_or_path)))
        if entry is not None:
            return entry.obj.path
        raise ConfigError(f"No spec file '{name_or_path}' and no spec of that name. Known: "
                          f"{', '.join(registry.names('spec'))} (slide-bench specs)")
    shipped = resources.files("registry") / "specs" / f"{name_or_path}.toml"
    if shipped.is_file():
        return Path(str(shipped))
    raise ConfigError(f"No spec file '{name_or_path}' and no shipped spec of that name. Shipped: {', '.join(shipped_specs())}")


def _sets(value: Any, where: str) -> Sets:
    """``{"pretrain": {"epochs": 5}}`` or ``{"pretrain.epochs": 5}`` → ``{"pretrain": {"epochs": 5}}``."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table of section.option = value")
    out: Sets = {}
    for key, inner in value.items():
        section, _, option = key.partition(".")
        pairs = {option: inner}.items() if option else (inner.items() if isinstance(inner, dict) else None)
        if section not in SECTIONS or pairs is None:
            raise ConfigError(f"{where}: '{key}' is not section.option (sections: {', '.join(SECTIONS)})")
        for name, val in pairs:
            out.setdefault(section, {})[name] = val
    return out


def _merge(*layers: Sets) -> Sets:
    out: Sets = {}
    for layer in layers:
        for section, values in layer.items():
            out.setdefault(section, {}).update(values)
    return out


def _text(value: Any) -> str:
    """Spec values go through the same typed parsing as ``--set`` strings."""
    return value if isinstance(value, str) else json.dumps(value)


@dataclass
class Group:
    axes: dict[str, list[Any]]
    preset: str
    sets: Sets
    overrides: dict[str, Sets]
    label: str | None = None  # table row of the group's runs


@dataclass
class MatrixSpec:
    name: str
    description: str = ""
    groups: list[Group] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    source: str = ""
    executor: dict[str, Any] = field(default_factory=dict)  # [executor]: name and options
    percent_of: str | None = None  # a row label: tables add each row's means in % of its

    @classmethod
    def load(cls, name_or_path: str | Path, registry: Registry | None = None) -> "MatrixSpec":
        """Parse a spec file, or the spec of that name (registered by a plugin, or shipped)."""
        path = spec_path(name_or_path, registry)
        try:
            raw = tomllib.loads(path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError(f"spec {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"spec {path} is not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"cannot read spec {path}: {exc.strerror or exc}") from None
        return cls.from_dict(raw, default_name=path.stem, source=str(path))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], default_name: str = "spec", source: str = "") -> "MatrixSpec":
        where = f"spec '{raw.get('name', default_name)}'"
        unknown = sorted(set(raw) - set(TOP_KEYS))
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}. Known: {', '.join(TOP_KEYS)}")
        top = cls._group(raw, {**DEFAULTS}, {}, {}, where)
        blocks = raw.get("group", [])
        if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
            raise ConfigError(f"{where}: 'group' must be [[group]] tables")
        groups = []
        for i, block in enumerate(blocks or [{}]):
            bad = sorted(set(block) - set(BLOCK_KEYS))
            if bad:
                raise ConfigError(f"{where} group {i + 1}: unknown key(s) {', '.join(bad)}. Known: {', '.join(BLOCK_KEYS)}")
            group = cls._group(block, {**top.axes, "preset": top.preset}, top.sets, top.overrides, f"{where} group {i + 1}")
            label = block.get("label")
            if label is not None and not isinstance(label, str):
                raise ConfigError(f"{where} group {i + 1}: label must be a string, got {label!r}")
            groups.append(dataclasses.replace(group, label=label))
        labels = raw.get("labels", {})
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise ConfigError(f"{where}: [labels] must map \"slimmer/head\" to a label")
        executor = raw.get("executor", {})
        if not isinstance(executor, dict):
            raise ConfigError(f"{where}: [executor] must be a table (name = \"pool\", options)")
        percent_of = raw.get("percent_of")
        if percent_of is not None and not isinstance(percent_of, str):
            raise ConfigError(f"{where}: percent_of must be a row label, got {percent_of!r}")
        return cls(str(raw.get("name", default_name)), str(raw.get("description", "")), groups, labels, source,
                   executor, percent_of)

    @staticmethod
    def _group(raw: dict[str, Any], base: dict[str, Any], sets: Sets, overrides: dict[str, Sets], where: str) -> Group:
        axes = {}
        for axis in (*NAME_AXES, *SEED_AXES):
            value = raw.get(axis, base.get(axis))
            value = [value] if isinstance(value, (str, int)) else value
            kind = int if axis in SEED_AXES else str
            if not isinstance(value, list) or not value or not all(type(v) is kind for v in value):
                raise ConfigError(f"{where}: '{axis}' must be a non-empty list of {kind.__name__}s, got {value!r}")
            axes[axis] = value
        preset = raw.get("preset", base["preset"])
        if preset not in PRESETS:
            raise ConfigError(f"{where}: unknown preset '{preset}'. Known: {', '.join(PRESETS)}")
        group_overrides = raw.get("overrides", {})
        if not isinstance(group_overrides, dict):
            raise ConfigError(f"{where}: overrides must be [overrides.<dataset>] tables")
        merged = {normalize(d): s for d, s in overrides.items()}
        for dataset, values in group_overrides.items():
            key = normalize(dataset)
            merged[key] = _merge(merged.get(key, {}), _sets(values, f"{where} [overrides.{dataset}]"))
        return Group(axes, preset, _merge(sets, _sets(raw.get("set", {}), f"{where} [set]")), merged)

    def cells(self, registry: Registry, extra_sets: Sets | None = None) -> list[Cell]:
        """Every cell, in order, with ``"*"`` expanded through the registry; names are checked by the runner."""
        out: dict[Cell, None] = {}
        for group in self.groups:
            out.update(dict.fromkeys(self.group_cells(registry, group, extra_sets)))
        return list(out)

    def group_cells(self, registry: Registry, group: Group, extra_sets: Sets | None = None) -> list[Cell]:
        """The cells of one group, in order."""
        out: dict[Cell, None] = {}
        names = {axis: self._expand(registry, axis, group.axes[axis]) for axis in NAME_AXES}
        known = {normalize(d) for d in names["datasets"]}
        stray = [d for d in group.overrides if d not in known]
        if stray:
            raise ConfigError(f"spec '{self.name}': [overrides.{stray[0]}] names no dataset of the spec "
                              f"({', '.join(names['datasets'])})")
        starred = any("*" in group.axes[axis] for axis in ("datasets", "pretrainers", "heads"))
        settings = {dataset: self._settings(group, dataset, extra_sets) for dataset in names["datasets"]}
        for dataset, pretrainer, seed, slimmer, head, ft_seed in itertools.product(
                names["datasets"], names["pretrainers"], group.axes["seeds"], names["slimmers"],
                names["heads"], group.axes["finetune_seeds"]):
            if starred and not _supports(registry, dataset, pretrainer, head):
                continue  # "*" means all that fit the dataset's task; named pairs are checked (refused) by the runner
            triples, origins = settings[dataset]
            out[Cell(dataset, pretrainer, slimmer, head, seed, ft_seed, group.preset, triples, origins)] = None
        return list(out)

    def _settings(self, group: Group, dataset: str, extra_sets: Sets | None) -> tuple[tuple, tuple]:
        """A dataset's option settings in a group, as (section, option, text) triples, and where each came
        from (the spec table that set it; the command line's ``--set`` is not named). Computed once per
        dataset: a 100,000-cell plan must not redo it per cell."""
        overrides = group.overrides.get(normalize(dataset), {})
        sets = _merge(group.sets, overrides, extra_sets or {})
        triples = tuple((s, o, _text(v)) for s in SECTIONS for o, v in sorted(sets.get(s, {}).items()))
        where = {(s, o): f"spec '{self.name}' [set]" for s, values in group.sets.items() for o in values}
        where.update({(s, o): f"spec '{self.name}' [overrides.{dataset}]" for s, values in overrides.items()
                      for o in values})
        for s, values in (extra_sets or {}).items():
            for o in values:
                where.pop((s, o), None)  # the command line's --set wins
        return triples, tuple((s, o, w) for (s, o), w in sorted(where.items()))

    @staticmethod
    def _expand(registry: Registry, axis: str, values: list[str]) -> list[str]:
        kind = NAME_AXES[axis]
        expanded = itertools.chain.from_iterable(registry.names(kind) if v == "*" else [v] for v in values)
        return list(dict.fromkeys(expanded))

    def group_labels(self, registry: Registry, extra_sets: Sets | None = None) -> dict[Cell, str]:
        """Each cell of a labelled group and its group's label (its row name in a table)."""
        return {cell: group.label for group in self.groups if group.label
                for cell in self.group_cells(registry, group, extra_sets)}

    def label(self, slimmer: str, head: str) -> str | None:
        by_key = {normalize(k): v for k, v in self.labels.items()}
        return by_key.get(normalize(f"{slimmer}/{head}"))


def _supports(registry: Registry, dataset: str, pretrainer: str, head: str) -> bool:
    """Whether the pretrainer and the head support the dataset's task (unknown names: yes, the runner
    reports them)."""
    try:
        task = registry.task_of(dataset).name
        return task in registry.get("pretrainer", pretrainer).tasks and task in registry.get("head", head).tasks
    except UnknownNameError:
        return True


AXIS_OF = {"dataset": "dataset", "pretrainer": "pretrainer", "slimmer": "slimmer", "head": "head",
           "seed": "seed", "finetune_seed": "finetune_seed"}


def _match(cell: Cell, term: str) -> bool | None:
    """Whether a filter term (``NAME`` or ``axis=VALUE``) matches the cell; None when the axis is not its."""
    axis, eq, value = term.partition("=")
    if eq:
        attr = AXIS_OF.get(axis.strip().replace("-", "_"))
        if attr is None:
            raise ConfigError(f"filter '{term}': unknown axis '{axis}'. Known: {', '.join(AXIS_OF)}")
        return normalize(str(getattr(cell, attr))) == normalize(value)
    return any(normalize(getattr(cell, attr)) == normalize(term) for attr in NAME_AXES.values())


def filter_cells(cells: Iterable[Cell], only: Iterable[str] = (), skip: Iterable[str] = ()) -> list[Cell]:
    """``--only``: per axis named by any term, keep cells matching one of that axis's terms.
    ``--skip``: drop cells matching any term. Terms are names (any axis) or ``axis=value``."""
    cells = list(cells)
    only, skip = [t for arg in only for t in arg.split(",") if t], [t for arg in skip for t in arg.split(",") if t]
    for term in (*only, *skip):
        if not any(_match(c, term) for c in cells):
            raise ConfigError(f"filter '{term}' matches no cell of the spec")
    by_axis: dict[str, list[str]] = {}
    for term in only:
        axis = AXIS_OF[term.partition("=")[0].strip().replace("-", "_")] if "=" in term else next(
            attr for attr in NAME_AXES.values() if any(normalize(getattr(c, attr)) == normalize(term) for c in cells))
        by_axis.setdefault(axis, []).append(term)
    return [c for c in cells if all(any(_match(c, t) for t in terms) for terms in by_axis.values())
            and not any(_match(c, t) for t in skip)]
