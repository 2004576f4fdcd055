"""The typed registry that the ``register_*`` hooks fill: names → components, with provenance, and the
defaults plugins supply for each other's components (``register_defaults``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from registry.checks import check_component, check_option_names
from registry.errors import PluginError, UnknownNameError

KINDS = ("pretrainer", "slimmer", "head", "dataset", "selection", "spec", "executor", "task")
CONFIGURABLE = ("pretrainer", "slimmer", "head")  # kinds with options that defaults can be supplied for


def normalize(name: str) -> str:
    """Names match case-insensitively and ignore ``-``, ``_`` and spaces (``2-half`` = ``2_Half``)."""
    return "".join(ch for ch in name.lower() if ch not in "-_ ")


@dataclass
class Entry:
    obj: Any
    plugin: str


@dataclass(frozen=True)
class Supplied:
    """One default a plugin supplied for another's component (``register_defaults``)."""

    key: str  # "Cora" or "pretrainer/Cora"
    option: str
    value: Any
    plugin: str


@dataclass
class Registry:
    """Components by kind and name; each remembers the plugin that registered it."""

    entries: dict[str, dict[str, Entry]] = field(default_factory=lambda: {k: {} for k in KINDS})
    supplied: dict[tuple[str, str], list[Supplied]] = field(default_factory=dict)  # by (kind, normalized name)

    def add(self, kind: str, obj: Any, plugin: str) -> None:
        if kind not in KINDS:
            raise PluginError(f"Plugin '{plugin}' registered an unknown kind '{kind}'")
        check_component(kind, obj, plugin)
        name = obj.name
        key = normalize(name)
        if key in self.entries[kind]:
            first = self.entries[kind][key].plugin
            raise PluginError(
                f"{kind.capitalize()} '{name}' is registered twice: by plugin '{first}' and by plugin '{plugin}'"
            )
        self.entries[kind][key] = Entry(obj, plugin)

    def register_callback(self, kind: str, plugin: str) -> Callable[[Any], None]:
        """The ``register`` callable handed to one plugin's ``register_*`` hook."""
        return lambda obj: self.add(kind, obj, plugin)

    def supply(self, kind: str, name: str, overrides: dict[str, dict[str, Any]], plugin: str) -> None:
        """Defaults from ``plugin`` for another plugin's component, keyed as its ``overrides`` are
        (``"Cora"`` or ``"pretrainer/Cora"``); checked by :meth:`check_supplied` once all are registered."""
        if kind not in CONFIGURABLE:
            raise PluginError(f"plugin '{plugin}' supplies defaults for a {kind!r}; kinds: {', '.join(CONFIGURABLE)}")
        if not isinstance(overrides, dict):
            raise PluginError(f"plugin '{plugin}' supplies defaults for {kind} '{name}' that are not a dict")
        rows = self.supplied.setdefault((kind, normalize(name)), [])
        for key, values in overrides.items():
            if not isinstance(values, dict):
                raise PluginError(f"plugin '{plugin}': defaults for {kind} '{name}' ['{key}'] must be a dict of options")
            rows += [Supplied(key, option, value, plugin) for option, value in values.items()]

    def check_supplied(self) -> None:
        """Every supplied default names a registered component and an option it has, sets no value the
        component's own ``overrides`` set, and no two plugins set the same value."""
        for (kind, name), rows in self.supplied.items():
            entry = self.entries[kind].get(name)
            if entry is None:
                raise PluginError(f"plugin '{rows[0].plugin}' supplies defaults for {kind} '{name}', which no plugin registered")
            component, seen = entry.obj, {}
            own = {normalize(k): v for k, v in component.overrides.items()}
            for row in rows:
                where = f"plugin '{row.plugin}': defaults for {kind} '{component.name}' ['{row.key}']"
                check_option_names({row.option: None}, component.option_names(), where)
                if row.option in own.get(normalize(row.key), {}):
                    raise PluginError(f"{where} set option '{row.option}', which plugin '{entry.plugin}' already sets there")
                first = seen.setdefault((normalize(row.key), row.option), row.plugin)
                if first != row.plugin:
                    raise PluginError(f"{kind} '{component.name}' option '{row.option}' for '{row.key}' is supplied "
                                      f"twice: by plugin '{first}' and by plugin '{row.plugin}'")

    def check_tasks(self) -> None:
        """Every dataset declares a registered task, and every head and pretrainer supports only registered ones."""
        known = self.entries["task"]
        for kind in ("dataset", "head", "pretrainer"):
            for entry in self.entries[kind].values():
                tasks = (entry.obj.task,) if kind == "dataset" else entry.obj.tasks
                unknown = [t for t in tasks if normalize(t) not in known]
                if unknown or not tasks:
                    raise PluginError(f"plugin '{entry.plugin}': {kind} '{entry.obj.name}' names unknown task(s) "
                                      f"{', '.join(unknown) or '(none)'}; tasks: {', '.join(self.names('task'))}")

    def tasks(self) -> dict[str, Any]:
        """Every registered :class:`registry.tasks.Task` by name."""
        return {entry.obj.name: entry.obj for entry in self.entries["task"].values()}

    def task_of(self, dataset: str) -> Any:
        """The :class:`registry.tasks.Task` a dataset declares."""
        return self.get("task", self.get("dataset", dataset).task)

    def supplied_overrides(self, kind: str, name: str) -> dict[str, dict[str, Any]]:
        """The defaults other plugins supplied for a component: ``{key: {option: value}}``."""
        out: dict[str, dict[str, Any]] = {}
        for row in self.supplied.get((kind, normalize(name)), []):
            out.setdefault(row.key, {})[row.option] = row.value
        return out

    def get(self, kind: str, name: str) -> Any:
        entry = self.entries[kind].get(normalize(name))
        if entry is None:
            raise UnknownNameError(kind, name, self.names(kind))
        return entry.obj

    def plugin_of(self, kind: str, name: str) -> str:
        self.get(kind, name)
        return self.entries[kind][normalize(name)].plugin

    def names(self, kind: str) -> list[str]:
        return [e.obj.name for e in self.entries[kind].values()]

    def by_plugin(self) -> dict[str, dict[str, list[str]]]:
        """``{plugin: {kind: [names]}}`` in registration order, for ``slide-bench plugins``."""
        out: dict[str, dict[str, list[str]]] = {}
        for kind in KINDS:
            for entry in self.entries[kind].values():
                out.setdefault(entry.plugin, {}).setdefault(kind, []).append(entry.obj.name)
        return out
