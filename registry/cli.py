"""The ``slide-bench`` command line. Sub-commands come from plugins' ``register_commands`` hooks
(the core's own commands are plugins too). Errors print one line on stderr and exit with 2."""

from __future__ import annotations

import argparse
import contextlib
import sys

import pluggy

from registry.errors import SlideBenchError
from registry.plugins import get_plugin_manager, using


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slide-bench", description=__doc__.split(".")[0] + ".")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    get_plugin_manager().hook.register_commands(subparsers=subparsers)
    return parser


def negations_to_sets(parser: argparse.ArgumentParser, args: argparse.Namespace, extras: list[str]) -> None:
    """``--no-OPTION`` switches a boolean head option off (``--no-decorrelation`` → ``head.decorrelation=false``)
    on commands that take ``--set``; anything else left over is an error."""
    for extra in extras:
        if not (extra.startswith("--no-") and hasattr(args, "set")):
            parser.error(f"unrecognized arguments: {' '.join(extras)}")
        args.set.append(f"head.{extra[len('--no-'):].replace('-', '_')}=false")


def main(argv: list[str] | None = None, plugin_manager: pluggy.PluginManager | None = None) -> int:
    """Run ``slide-bench`` with ``argv`` (default: ``sys.argv[1:]``) and return its exit code; with
    ``plugin_manager`` (see :mod:`registry.testing`), with that manager's plugins instead of the installed ones."""
    with using(plugin_manager) if plugin_manager is not None else contextlib.nullcontext():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    try:
        parser = build_parser()
        args, extras = parser.parse_known_args(argv)
        negations_to_sets(parser, args, extras)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except SlideBenchError as exc:
        print(f"slide-bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("slide-bench: interrupted; finished runs are in the store, run again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
