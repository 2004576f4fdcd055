"""The ``slide-bench`` command line. Sub-commands come from plugins' ``register_commands`` hooks
(the core's own commands are plugins too). Errors print one line on stderr and exit with 2.

Every sub-command gets :class:`CommandParser` (help shows each option's default) and, when its plugin
gave it none, its one-line ``help`` as its description."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

import pluggy

from registry import __version__
from registry.errors import SlideBenchError
from registry.plugins import get_plugin_manager, using

DESCRIPTION = """Benchmark self-supervised GNNs: pretrain (GraphMAE, GRACE, MaskGAE), slim, fine-tune (linear
probe, full fine-tuning, SLIDE, LoRA) and compare every combination over datasets and seeds."""
EPILOG = """first steps:
  slide-bench matrix quick      a CPU smoke run on Cora (under a minute), printed as a table
  slide-bench plugins           what is installed: pretrainers, slimmers, heads, datasets
  slide-bench COMMAND --help    a command's options and their defaults"""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written; every option's help ends with its default unless it already names one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (not action.option_strings or "default" in text or default in (None, False, argparse.SUPPRESS)
                or default == []):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)
        return f"{text} (default: {shown.replace('%', '%%')})"


class Parser(argparse.ArgumentParser):
    """Argument errors as one line, like every other bad input (``--help`` shows the usage)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class CommandParser(Parser):
    """The parser of every sub-command: help with defaults."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def _describe_commands(parser: argparse.ArgumentParser) -> None:
    """A sub-command registered without a description gets its one-line help as one (recursively)."""
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        helps = {choice.dest: choice.help for choice in action._choices_actions}
        for name, sub in action.choices.items():
            sub.description = (sub.description or helps.get(name) or "").replace("``", "")  # docstrings' markup
            _describe_commands(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="slide-bench", description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"slide-bench {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    get_plugin_manager().hook.register_commands(subparsers=subparsers)
    _describe_commands(parser)
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
        message = str(exc).replace("\r", "\\r").replace("\n", "\\n")  # one line, whatever the input held
        print(f"slide-bench: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("slide-bench: interrupted; finished runs are in the store, run again to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `slide-bench matrix big --dry-run | head`: the reader has gone, so stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
