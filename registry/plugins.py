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

import contextlib
import importlib
import importlib.metadata
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterable, Iterator
from weakref import WeakKeyDictionary

import pluggy

from registry import hookspecs, slimming
from registry.errors import PluginError
from registry.registry import Registry

# Modules of the core that register through the same hooks as third-party plugins.
DEFAULT_PLUGINS = ("registry.tasks", "registry.tudatasets", "registry.datasets", "registry.slimming", "registry.executors", "registry.commands.run",
                   "registry.commands.plugins", "registry.commands.compare",
                   "registry.commands.bench", "registry.commands.matrix", "registry.commands.table",
                   "registry.commands.specs", "registry.commands.describe", "registry.commands.tune",
                   "registry.commands.export")

HOOK_KINDS = {
    "register_pretrainers": "pretrainer",
    "register_slimmers": "slimmer",
    "register_heads": "head",
    "register_datasets": "dataset",
    "register_selection_rules": "selection",
    "register_specs": "spec",
    "register_executors": "executor",
    "register_tasks": "task",
}


def _names(variable: str) -> set[str] | None:
    value = os.environ.get(variable)
    if value is None:
        return None
    return {n.strip() for n in value.split(",") if n.strip()}


def _load_entry_points(pm: pluggy.PluginManager, only: set[str] | None, strict: bool) -> None:
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
    """A fresh manager with the hookspecs, the entry-point plugins and the core's own plugins, as the
    environment variables above select them."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in _names("SLIDE_BENCH_DISABLE_PLUGINS") or ():
        pm.set_blocked(name)
    if load_entry_points:
        _load_entry_points(pm, _names("SLIDE_BENCH_LOAD_PLUGINS"),
                           os.environ.get("SLIDE_BENCH_STRICT_PLUGINS", "") not in ("", "0"))
    if os.environ.get("SLIDE_BENCH_PLUGINS_DIR"):
        _load_plugins_dir(pm, Path(os.environ["SLIDE_BENCH_PLUGINS_DIR"]).expanduser())
    _recipes[pm] = "environment"  # workers make theirs from the same environment
    return _finish(pm)


@dataclass(frozen=True)
class PluginRecipe:
    """How a worker process rebuilds a :func:`plugin_manager_of` manager: plugin modules by name,
    the folders to import them from, the entry-point names (picklable; see :func:`recipe_of`)."""

    modules: tuple[tuple[str, str], ...]
    paths: tuple[str, ...]
    entry_points: tuple[str, ...]

    def build(self) -> pluggy.PluginManager:
        for path in reversed(self.paths):
            if path not in sys.path:
                sys.path.insert(0, path)
        try:
            plugins = {name: importlib.import_module(module) for name, module in self.modules}
        except Exception as exc:
            raise PluginError(f"a worker cannot import the plugins in use: {type(exc).__name__}: {exc}") from None
        return plugin_manager_of(plugins, self.entry_points)


def _import_root(module: ModuleType) -> str | None:
    """The sys.path folder that ``import module.__name__`` finds ``module`` in, or None."""
    file = getattr(module, "__file__", None)
    if not file or module.__name__ == "__main__":
        return None
    root = Path(file).resolve().parent
    for _ in range(module.__name__.count(".") + (Path(file).name == "__init__.py")):
        root = root.parent
    return str(root)


def _recipe(plugins: dict[str, object], entry_points: Iterable[str]) -> PluginRecipe | str:
    """The recipe of these plugins, or why worker processes cannot rebuild them."""
    modules, paths = [], []
    for name, plugin in plugins.items():
        root = _import_root(plugin) if isinstance(plugin, ModuleType) else None
        if root is None:
            return (f"plugin '{name}' is not an importable module ({type(plugin).__name__}), so worker processes "
                    "cannot load it: pass its module to registry.testing, or use --executor local")
        modules.append((name, plugin.__name__))
        paths.append(root)
    return PluginRecipe(tuple(modules), tuple(dict.fromkeys(paths)), tuple(entry_points))


def recipe_of(pm: pluggy.PluginManager) -> PluginRecipe | str | None:
    """How worker processes rebuild ``pm``: None when it is the environment's (workers build theirs
    from the same environment); a :class:`PluginRecipe` for a :func:`plugin_manager_of` one; else a
    one-line reason why they cannot (executors that start processes refuse it before they start)."""
    recipe = _recipes.get(pm)
    if pm is _pm or recipe == "environment":
        return None
    if recipe is None:
        return ("the plugin manager in use was not made by registry.plugins (make_plugin_manager, "
                "plugin_manager_of), so worker processes cannot rebuild it: use --executor local")
    return recipe


def plugin_manager_of(plugins: dict[str, object], entry_points: Iterable[str] = ()) -> pluggy.PluginManager:
    """A manager with exactly these ``{name: plugin}`` objects, the named installed entry points (a
    missing or broken one is an error) and the core's own plugins; no environment variable applies.
    Worker processes of the ``pool``, ``ray`` and ``slurm`` executors rebuild it when its plugins are
    importable modules (:func:`recipe_of`)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    wanted = set(entry_points)
    _load_entry_points(pm, wanted, strict=True)
    missing = sorted(wanted - {name for name, _ in pm.list_name_plugin()})
    if missing:
        raise PluginError(f"no installed slide_bench entry point named {', '.join(missing)}")
    for name, plugin in plugins.items():
        try:
            pm.register(plugin, name=name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            raise PluginError(f"plugin '{name}' failed to load: {type(exc).__name__}: {exc}") from None
    _recipes[pm] = _recipe(plugins, entry_points)
    return _finish(pm)


def _finish(pm: pluggy.PluginManager) -> pluggy.PluginManager:
    """Register the core's own plugins (last: they are called first) and check the hook names."""
    for module_name in DEFAULT_PLUGINS:
        if not pm.is_blocked(module_name):
            pm.register(importlib.import_module(module_name), name=module_name)
    check_hooks(pm)
    return pm


_pm: pluggy.PluginManager | None = None
_active: list[pluggy.PluginManager] = []  # managers put in use by :func:`using`, innermost last
_recipes: WeakKeyDictionary[pluggy.PluginManager, PluginRecipe | str] = WeakKeyDictionary()  # "environment": workers load their own
_rules: WeakKeyDictionary[pluggy.PluginManager, dict[str, slimming.SelectionRule]] = WeakKeyDictionary()


def get_plugin_manager() -> pluggy.PluginManager:
    """The manager in use: the innermost :func:`using` one, else the process-wide one (created on first use)."""
    global _pm
    if _active:
        return _active[-1]
    if _pm is None:
        _pm = make_plugin_manager()
    return _pm


def install_plugin_manager(pm: pluggy.PluginManager) -> None:
    """Make ``pm`` the process-wide manager (a worker process adopting its driver's plugins)."""
    global _pm
    _pm = pm


def forget_plugin_manager() -> None:
    """Drop the process-wide manager: the next command builds it afresh from the environment."""
    global _pm
    _pm = None


@contextlib.contextmanager
def using(pm: pluggy.PluginManager) -> Iterator[pluggy.PluginManager]:
    """Make ``pm`` the manager that :func:`get_plugin_manager` (every command) returns inside the block."""
    _active.append(pm)
    try:
        yield pm
    finally:
        _active.remove(pm)


def build_registry(pm: pluggy.PluginManager | None = None) -> Registry:
    """Call every plugin's ``register_*`` hooks, each with a ``register`` bound to that plugin, then
    check the defaults plugins supplied for each other's components and the tasks components name."""
    pm = pm or get_plugin_manager()
    registry = Registry()
    hooks: dict[str, Callable[[str], Callable[..., None]]] = {
        hook: (lambda plugin, kind=kind: registry.register_callback(kind, plugin)) for hook, kind in HOOK_KINDS.items()}
    hooks["register_defaults"] = lambda plugin: (lambda kind, name, overrides: registry.supply(kind, name, overrides, plugin))
    for hook_name, make_register in hooks.items():
        caller = getattr(pm.hook, hook_name)
        for impl in reversed(caller.get_hookimpls()):  # pluggy's call order: the last registered first
            plugin_name = pm.get_name(impl.plugin) or repr(impl.plugin)
            kwargs = {"register": make_register(plugin_name)} if "register" in impl.argnames else {}
            try:
                impl.function(**kwargs)
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(f"plugin '{plugin_name}' failed in {hook_name}: {type(exc).__name__}: {exc}") from exc
    registry.check_supplied()
    registry.check_tasks()
    _rules[pm] = {entry.obj.name: entry.obj for entry in registry.entries["selection"].values()}
    return registry


def selection_rules_in_use() -> dict[str, slimming.SelectionRule] | None:
    """The selection rules registered with the manager in use (:func:`get_plugin_manager`, without
    creating one), once its registry is built; None before."""
    pm = _active[-1] if _active else _pm
    return _rules.get(pm) if pm is not None else None


def plugin_versions(pm: pluggy.PluginManager) -> dict[str, str]:
    return {pm.get_name(plugin) or "?": dist.version for plugin, dist in pm.list_plugin_distinfo()}


def plugin_module(plugin: object) -> str:
    return plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__qualname__
