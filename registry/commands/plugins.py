"""``slide-bench plugins``: every loaded plugin, its version and what it registered."""

from __future__ import annotations

import argparse
import json

from registry.hookspecs import hookimpl
from registry.plugins import build_registry, get_plugin_manager, plugin_versions


def plugins(args: argparse.Namespace) -> int:
    pm = get_plugin_manager()
    registry = build_registry(pm)
    versions = plugin_versions(pm)
    registered = registry.by_plugin()
    listing = []
    for name, plugin in pm.list_name_plugin():
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        listing.append({"name": name, "version": versions.get(name, "built-in"), "hooks": hooks,
                        "registered": registered.get(name, {})})
    if args.json:
        print(json.dumps(listing, indent=2))
        return 0
    for entry in listing:
        print(f"{entry['name']} ({entry['version']})")
        for kind, names in entry["registered"].items():
            print(f"  {'selection rule' if kind == 'selection' else kind}s: {', '.join(names)}")
        if not entry["registered"]:
            print(f"  hooks: {', '.join(entry['hooks'])}")
    return 0


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("plugins", help="list loaded plugins and what they registered")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=plugins)
