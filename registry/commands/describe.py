"""``slide-bench describe KIND NAME``: what a component is, who provides it, and every option with its
type, default, valid range, ``quick`` value and per-dataset overrides (its own and those other plugins
supplied)."""

from __future__ import annotations

import argparse
import json
import textwrap
from typing import Any

from registry.config import SECTIONS
from registry.hookspecs import hookimpl
from registry.plugins import build_registry, get_plugin_manager
from registry.registry import KINDS, normalize

SECTION_OF = {kind: section for section, kind in SECTIONS.items()}


def _value(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (list, dict, bool)) or value is None else str(value)


def _provider(plugin: str) -> str:
    pm = get_plugin_manager()
    for obj, dist in pm.list_plugin_distinfo():
        if pm.get_name(obj) == plugin:
            return f"plugin '{plugin}', distribution {dist.project_name} {dist.version}"
    return f"plugin '{plugin}' (not from an installed distribution)"


def option_rows(component: Any) -> list[list[str]]:
    """One row per option: name, type and valid range (:mod:`registry.options`), default, quick value, and
    the search space ``slide-bench tune`` tries."""
    from registry.options import describe_options, search_space

    space = search_space(component.Options)
    return [[spec.name, spec.valid, _value(spec.default), _value(component.quick[spec.name]) if spec.name in component.quick
             else "", str(space.get(spec.name, ""))] for spec in describe_options(component.Options)]


def override_lines(component: Any, supplied: dict[str, dict[str, Any]], plugin_of_supplied: dict[str, str]) -> list[str]:
    """One entry per key (``graphmae/Cora``), wrapped at 100 columns; supplied ones name their plugin."""
    def entry(key: str, values: dict[str, Any], source: str = "") -> str:
        text = f"{key}: " + ", ".join(f"{k}={_value(v)}" for k, v in values.items()) + source
        return textwrap.fill(text, 100, initial_indent="  ", subsequent_indent="      ", break_on_hyphens=False)

    return [entry(key, values) for key, values in component.overrides.items()] + [
        entry(key, values, f"  (from plugin '{plugin_of_supplied[key]}')") for key, values in supplied.items()]


def describe(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    registry = build_registry()
    kind = args.kind
    obj = registry.get(kind, args.name)
    plugin = registry.plugin_of(kind, args.name)
    version = f" (version {obj.version})" if hasattr(obj, "version") else ""
    print(f"{kind} '{obj.name}'{version}: {obj.description}")
    print(f"provided by {_provider(plugin)}")
    if kind in ("head", "pretrainer"):
        print(f"tasks: {', '.join(obj.tasks)}")
    if kind == "head":
        print(f"default slimmer: {obj.default_slimmer}")
    if kind == "dataset":
        print(f"task: {obj.task}")
        return 0
    if kind == "task":
        print(f"a dataset provides: {obj.provides}")
        print(f"every head reports: {', '.join(obj.required_metrics)}; tables show "
              f"{', '.join(f'{m} ({label})' for m, label in obj.metrics.items())}; compare uses {obj.primary}")
        for what in ("dataset", "pretrainer", "head"):
            names = [e.obj.name for e in registry.entries[what].values()
                     if obj.name in ((e.obj.task,) if what == "dataset" else e.obj.tasks)]
            print(f"{what}s: {', '.join(names) or '(none)'}")
        return 0
    if kind == "spec":
        print(f"file: {obj.path}")
        return 0
    rows = option_rows(obj)
    if not rows:
        print("options: none")
        return 0
    section = SECTION_OF.get(kind)
    print("options" + (f" (--set {section}.OPTION=VALUE):" if section else ":"))
    print(tabulate(rows, headers=["option", "type and valid range", "default", "quick", "tuned over"], tablefmt="simple"))
    supplied = registry.supplied.get((kind, normalize(obj.name)), [])
    sources = {key: ", ".join(sorted({r.plugin for r in supplied if r.key == key})) for key in {r.key for r in supplied}}
    lines = override_lines(obj, registry.supplied_overrides(kind, obj.name), sources)
    if lines:
        print("per-dataset overrides (official configurations; 'pretrainer/dataset/slimmer' keys win over "
              "'pretrainer/dataset', which win over 'dataset'):")
        print("\n".join(lines))
    return 0


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("describe", help="a component's description, provider and options (types, defaults, "
                                               "valid ranges, quick values, per-dataset overrides)")
    p.add_argument("kind", choices=KINDS, help="what kind of component")
    p.add_argument("name", help="its registered name (see slide-bench plugins)")
    p.set_defaults(func=describe)
