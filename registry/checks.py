"""Checks at ``register()`` time: a mistake in a plugin is one line naming it, before anything runs.

Checked: an instance (not a class) of the kind's base class, registered through that kind's hook; a
non-empty name; ``Options`` a dataclass whose defaults build, whose tuning search spaces fit their
options; ``quick`` and ``overrides`` naming options that exist; a pretrainer that can rebuild its encoder
(``Encoder`` or ``build_encoder``); a dataset's ``load(root, split_seed)`` signature; a spec file that exists;
a task's metrics (its table metrics and primary among its required ones). Task names that datasets, heads
and pretrainers declare are checked once all are registered (:meth:`registry.registry.Registry.check_tasks`).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
from pathlib import Path
from typing import Any

from registry.errors import PluginError

BASES = {"pretrainer": "registry.components:Pretrainer", "slimmer": "registry.components:Slimmer",
         "head": "registry.components:Head", "dataset": "registry.components:DatasetSpec",
         "selection": "registry.slimming:SelectionRule", "spec": "registry.spec:SpecFile",
         "executor": "registry.executors.base:Executor", "task": "registry.tasks:Task"}
HOOKS = {"pretrainer": "register_pretrainers", "slimmer": "register_slimmers", "head": "register_heads",
         "dataset": "register_datasets", "selection": "register_selection_rules", "spec": "register_specs",
         "executor": "register_executors", "task": "register_tasks"}


def base_class(kind: str) -> type:
    module, _, name = BASES[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def check_component(kind: str, obj: Any, plugin: str) -> None:
    """Raise a one-line :class:`PluginError` naming ``plugin`` when ``obj`` cannot be a ``kind``."""
    where, base = f"plugin '{plugin}'", base_class(kind)
    if isinstance(obj, type):
        what = f"register({obj.__name__}())" if issubclass(obj, base) else f"a registry.{base.__name__} instance"
        raise PluginError(f"{where} registered the class {obj.__name__} through {HOOKS[kind]}; register an "
                          f"instance: {what}")
    if not isinstance(obj, base):
        other = next((k for k in BASES if k != kind and isinstance(obj, base_class(k))), None)
        if other:
            raise PluginError(f"{where} registered {other} '{getattr(obj, 'name', '?')}' through {HOOKS[kind]}; "
                              f"register it through {HOOKS[other]}")
        raise PluginError(f"{where} registered a {type(obj).__name__} through {HOOKS[kind]}; expected a "
                          f"registry.{base.__name__} instance")
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not name.strip():
        raise PluginError(f"{where} registered a {kind} without a name: {obj!r}")
    where = f"{where}: {kind} '{name}'"
    if kind == "dataset":
        _check_loader(obj, where)
    elif kind == "task":
        _check_task(obj, where)
    elif kind == "spec":
        if not Path(obj.path).is_file():
            raise PluginError(f"{where}: no spec file at {obj.path}")
    else:
        check_options(obj, where)
    if kind == "pretrainer" and obj.Encoder is None and type(obj).build_encoder is base.build_encoder:
        raise PluginError(f"{where}: set Encoder (rebuilt as Encoder(**arch)) or override build_encoder(arch)")


def _check_loader(spec: Any, where: str) -> None:
    if not callable(spec.load):
        raise PluginError(f"{where}: load is not callable")
    try:
        inspect.signature(spec.load).bind("root", split_seed=0)
    except TypeError:
        raise PluginError(f"{where}: load must accept (root, split_seed), got load{inspect.signature(spec.load)}") from None
    except ValueError:  # a builtin without a signature: nothing to check
        pass


def _check_task(task: Any, where: str) -> None:
    metrics = task.required_metrics
    if not isinstance(metrics, tuple) or not metrics or not all(isinstance(m, str) for m in metrics):
        raise PluginError(f"{where}: required_metrics must be a non-empty tuple of metric names")
    unknown = [m for m in (*task.metrics, task.primary) if m not in metrics]
    if unknown:
        raise PluginError(f"{where}: metrics and primary must be among required_metrics; not: {', '.join(unknown)}")


def check_options(component: Any, where: str) -> None:
    """``Options`` a dataclass whose defaults build; ``quick`` and ``overrides`` name its options."""
    options = component.Options
    if not (isinstance(options, type) and dataclasses.is_dataclass(options)):
        raise PluginError(f"{where}: Options must be a @dataclass class, got {options!r}")
    try:
        options()
    except Exception as exc:
        raise PluginError(f"{where}: Options() fails with its defaults: {type(exc).__name__}: {exc}") from None
    known = [f.name for f in dataclasses.fields(options)]
    check_search_space(options, where)
    check_option_names(component.quick, known, f"{where}: quick")
    if not isinstance(component.overrides, dict):
        raise PluginError(f"{where}: overrides must be a dict of 'dataset', 'pretrainer/dataset' "
                          "or 'pretrainer/dataset/slimmer' keys")
    for key, values in component.overrides.items():
        check_option_names(values, known, f"{where}: overrides['{key}']")


def check_search_space(options: type, where: str) -> None:
    """Every ``Search``/``Choice`` an option declares fits the option's own type and valid values."""
    from registry.options import option_hints, search_space

    hints = option_hints(options)
    for name, space in search_space(options).items():
        problem = space.problem(hints[name])
        if problem:
            raise PluginError(f"{where}: option '{name}' search space {space}: {problem}")


def check_option_names(values: Any, known: list[str], where: str) -> None:
    if not isinstance(values, dict):
        raise PluginError(f"{where} must be a dict of option values, got {type(values).__name__}")
    unknown = [k for k in values if k not in known]
    if unknown:
        raise PluginError(f"{where} names unknown option(s) {', '.join(unknown)}. Options: {', '.join(known) or '(none)'}")


def check_encoder(encoder: Any, where: str, cached: bool = False) -> None:
    """The encoder contract after a component's call (:mod:`registry.components`): a ``torch.nn.Module``
    with a positive integer ``embedding_dim``; with ``cached``, a JSON-serialisable dict ``arch`` too."""
    from torch import nn

    if not isinstance(encoder, nn.Module):
        raise PluginError(f"{where} returned a {type(encoder).__name__}, not a torch.nn.Module encoder")
    dim = getattr(encoder, "embedding_dim", None)
    if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
        raise PluginError(f"{where} returned a {type(encoder).__name__} without a positive int 'embedding_dim' "
                          f"(got {dim!r})")
    if cached:
        arch = getattr(encoder, "arch", None)
        try:
            json.dumps(arch)
        except (TypeError, ValueError):
            arch = None
        if not isinstance(arch, dict):
            raise PluginError(f"{where} returned a {type(encoder).__name__} without a JSON-serialisable dict 'arch' "
                              "(build_encoder(arch) rebuilds it from the cache)")
