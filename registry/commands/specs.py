"""``slide-bench specs``: every named matrix spec (shipped by the core or by a plugin) with its description."""

from __future__ import annotations

import argparse
from importlib import resources
from typing import Callable

from registry.hookspecs import hookimpl
from registry.plugins import build_registry
from registry.spec import SpecFile, shipped_specs


def specs(args: argparse.Namespace) -> int:
    registry = build_registry()
    rows = [(e.obj.name, e.plugin, e.obj.description) for e in registry.entries["spec"].values()]
    width = max((len(name) for name, _, _ in rows), default=0)
    for name, plugin, description in rows:
        source = "" if plugin == "registry.commands.specs" else f" [{plugin}]"
        print(f"{name:<{width}}  {description}{source}")
    return 0


@hookimpl
def register_specs(register: Callable[[SpecFile], None]) -> None:
    folder = resources.files("registry") / "specs"
    for name in shipped_specs():
        register(SpecFile(folder / f"{name}.toml"))


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("specs", help="list the named matrix specs (shipped and from plugins) with descriptions")
    p.set_defaults(func=specs)
