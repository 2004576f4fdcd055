"""``slide-bench plugins``: every loaded plugin, the distribution it came from and what it registered."""

from __future__ import annotations

import argparse
import json
from typing import Any

from registry import __version__
from registry.hookspecs import hookimpl
from registry.plugins import DEFAULT_PLUGINS, build_registry, get_plugin_manager


def plugins(args: argparse.Namespace) -> int:
    pm = get_plugin_manager()
    registry = build_registry(pm)
    distributions = {name: {"name": "slide-bench", "version": __version__} for name in DEFAULT_PLUGINS}
    distributions |= {pm.get_name(plugin): {"name": dist.project_name, "version": dist.version}
                      for plugin, dist in pm.list_plugin_distinfo()}
    components: dict[str, dict[str, list[dict[str, str]]]] = {}
    for kind in registry.entries:
        for entry in registry.entries[kind].values():
            text = " ".join(str(getattr(entry.obj, "description", "") or "").split())
            described = {"name": entry.obj.name, "description": text}
            components.setdefault(entry.plugin, {}).setdefault(kind, []).append(described)
    listing = []
    for name, plugin in pm.list_name_plugin():
        dist = distributions.get(name)
        registered = {kind: [c["name"] for c in found] for kind, found in components.get(name, {}).items()}
        version = "built-in" if name in DEFAULT_PLUGINS or not dist else dist["version"]
        listing.append({"name": name, "version": version, "distribution": dist,
                        "hooks": sorted(h.name for h in pm.get_hookcallers(plugin) or []),
                        "registered": registered, "components": components.get(name, {})})
    if args.json:
        print(json.dumps(listing, indent=2))
        return 0
    for entry in listing:
        print(_text(entry))
    return 0


def _text(entry: dict[str, Any]) -> str:
    """One plugin: its distribution, then each component with its description (or the hooks it implements)."""
    dist = entry["distribution"]
    origin = f"{dist['name']} {dist['version']}" if dist else "no distribution: registered in-process"
    origin = f"built-in, {origin}" if entry["name"] in DEFAULT_PLUGINS else origin
    lines = [f"{entry['name']} ({origin})"]
    for kind, found in entry["components"].items():
        width = max(len(c["name"]) for c in found)
        lines.append(f"  {'selection rule' if kind == 'selection' else kind}s:")
        lines += [f"    {c['name']:<{width}}  {c['description']}".rstrip() for c in found]
    if not entry["components"]:
        lines.append(f"  hooks: {', '.join(entry['hooks'])}")
    return "\n".join(lines)


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("plugins", help="list loaded plugins, their distributions and what they registered")
    p.add_argument("--json", action="store_true",
                   help="machine-readable output: per plugin its distribution, hooks and components with descriptions")
    p.set_defaults(func=plugins)
