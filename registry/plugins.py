"""The plugin manager: loads plugins from the ``slide_bench`` entry-point group and builds the registry.

Environment variables:

- ``SLIDE_BENCH_LOAD_PLUGINS=a,b``: load only the entry points with these names (``''``: none).
- ``SLIDE_BENCH_DISABLE_PLUGINS=a,b``: block these entry-point names.
- ``SLIDE_BENCH_STRICT_PLUGINS=1``: a plugin that fails to import is an error (default: a warning
  on stderr, and the other plugins still load).
- ``SLIDE_BENCH_PLUGINS_DIR=DIR``: also load every ``*.py`` file in DIR as a plugin (no packaging
  needed), named after the file.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pluggy

from registry import hookspecs
from registry.errors import PluginError
from registry.registry import Registry

# Modules of the core that register through the same hooks as third-party plugins.
DEFAULT_PLUGINS = ("registry.datasets", "registry.commands.run", "registry.commands.plugins", "registry.commands.compare",
                   "registry.commands.bench", "registry.commands.matrix", "registry.commands.table")

HOOK_KINDS = {
    "register_pretrainers": "pretrainer",
    "register_slimmers": "slimmer",
    "register_heads": "head",
    "register_datasets": "dataset",
}


def _names(variable: str) -> set[str] | None:
    value = os.environ.get(variable)
    if value is None:
        return None
    return {n.strip() for n in value.split(",") if n.strip()}


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    only = _names("SLIDE_BENCH_LOAD_PLUGINS")
    strict = os.environ.get("SLIDE_BENCH_STRICT_PLUGINS", "") not in ("", "0")
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group != hookspecs.PROJECT or (only is not None and ep.name not in only):
                continue
            if pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
                pm.register(plugin, name=ep.name)  # hookimpls with arguments their hookspec lacks fail here
            except Exception as exc:  # one broken plugin must not brick the tool
                message = f"plugin '{ep.name}' ({dist.metadata['Name']}) failed to load: {type(exc).__name__}: {exc}"
                if strict:
                    raise PluginError(message) from exc
                print(f"slide-bench: warning: {message}", file=sys.stderr)
                continue
            pm._plugin_distinfo.append((plugin, pluggy._manager.DistFacade(dist)))  # type: ignore[attr-defined]


def _load_plugins_dir(pm: pluggy.PluginManager, directory: Path) -> None:
    if not directory.is_dir():
        raise PluginError(f"SLIDE_BENCH_PLUGINS_DIR '{directory}' is not a folder")
    for path in sorted(directory.glob("*.py")):
        name = path.stem
        if pm.is_blocked(name) or pm.has_plugin(name):
            continue
        spec = importlib.util.spec_from_file_location(f"slide_bench_local_plugins.{name}", path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
            pm.register(module, name=name)
        except Exception as exc:
            raise PluginError(f"local plugin '{path}' failed to load: {type(exc).__name__}: {exc}") from exc


def check_hooks(pm: pluggy.PluginManager) -> None:
    """``pm.check_pending()``, failing with a one-line PluginError: a hook name no hookspec declares (a typo)."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        specs = {n: c for n, c in vars(pm.hook).items() if not n.startswith("_")}
        unknown = [n for n in dir(exc.plugin) if n in specs and not specs[n].has_spec()]
        known = ", ".join(n for n, c in specs.items() if c.has_spec())
        name = pm.get_name(exc.plugin) or plugin_module(exc.plugin)
        raise PluginError(f"plugin '{name}' implements unknown hook(s) {', '.join(unknown)}. Known hooks: {known}") from None


def make_plugin_manager(load_entry_points: bool = True) -> pluggy.PluginManager:
    """A fresh manager with the hookspecs, the entry-point plugins and the core's own plugins."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in _names("SLIDE_BENCH_DISABLE_PLUGINS") or ():
        pm.set_blocked(name)
    if load_entry_points:
        _load_entry_points(pm)
    if os.environ.get("SLIDE_BENCH_PLUGINS_DIR"):
        _load_plugins_dir(pm, Path(os.environ["SLIDE_BENCH_PLUGINS_DIR"]).expanduser())
    for module_name in DEFAULT_PLUGINS:
        if not pm.is_blocked(module_name):
            pm.register(importlib.import_module(module_name), name=module_name)
    check_hooks(pm)
    return pm


_pm: pluggy.PluginManager | None = None


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide manager (created on first use)."""
    global _pm
    if _pm is None:
        _pm = make_plugin_manager()
    return _pm


def build_registry(pm: pluggy.PluginManager | None = None) -> Registry:
    """Call every plugin's ``register_*`` hooks, each with a ``register`` bound to that plugin."""
    pm = pm or get_plugin_manager()
    registry = Registry()
    for hook_name, kind in HOOK_KINDS.items():
        caller = getattr(pm.hook, hook_name)
        for impl in reversed(caller.get_hookimpls()):  # pluggy's call order: the last registered first
            plugin_name = pm.get_name(impl.plugin) or repr(impl.plugin)
            register = registry.register_callback(kind, plugin_name)
            kwargs = {"register": register} if "register" in impl.argnames else {}
            try:
                impl.function(**kwargs)
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(f"plugin '{plugin_name}' failed in {hook_name}: {type(exc).__name__}: {exc}") from exc
    return registry


def plugin_versions(pm: pluggy.PluginManager) -> dict[str, str]:
    return {pm.get_name(plugin) or "?": dist.version for plugin, dist in pm.list_plugin_distinfo()}


def plugin_module(plugin: object) -> str:
    return plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__qualname__
