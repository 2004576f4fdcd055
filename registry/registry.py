"""The typed registry that the ``register_*`` hooks fill: names → components, with provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from registry.errors import PluginError, UnknownNameError

KINDS = ("pretrainer", "slimmer", "head", "dataset")


def normalize(name: str) -> str:
    """Names match case-insensitively and ignore ``-``, ``_`` and spaces (``2-half`` = ``2_Half``)."""
    return "".join(ch for ch in name.lower() if ch not in "-_ ")


@dataclass
class Entry:
    obj: Any
    plugin: str


@dataclass
class Registry:
    """Components by kind and name; each remembers the plugin that registered it."""

    entries: dict[str, dict[str, Entry]] = field(default_factory=lambda: {k: {} for k in KINDS})

    def add(self, kind: str, obj: Any, plugin: str) -> None:
        if kind not in KINDS:
            raise PluginError(f"Plugin '{plugin}' registered an unknown kind '{kind}'")
        name = getattr(obj, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"Plugin '{plugin}' registered a {kind} without a name: {obj!r}")
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
