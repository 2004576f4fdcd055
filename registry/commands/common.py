"""Arguments and objects shared by the sub-commands that run things."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
import typing
from typing import TYPE_CHECKING, Any, Callable

from registry.cache import EncoderCache
from registry.datasets import cache_dir
from registry.options import Count, check_value, describe_type
from registry.plugins import build_registry
from registry.runner import Runner
from registry.store import ResultsStore

if TYPE_CHECKING:
    import pandas as pd


FORMATS = ("markdown", "csv", "json", "latex")  # what --format accepts wherever a table is printed


class Names(argparse.Action):
    """A multi-valued option, written one way: ``--datasets Cora CiteSeer``. The older forms (the
    singular flag, a repeated flag, ``Cora,CiteSeer``) still work, with a deprecation note on stderr."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        kwargs.setdefault("nargs", "+")
        kwargs.setdefault("metavar", "NAME")
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        given = getattr(namespace, self.dest, None)
        items = [] if given is None or given is self.default else list(given)
        if option_string != self.option_strings[0] or items or any("," in v for v in values):
            print(f"slide-bench: note: write multiple values once, space-separated: {self.option_strings[0]} "
                  f"A B (the singular flag, repeating it and commas are deprecated)", file=sys.stderr)
        setattr(namespace, self.dest, items + [v for value in values for v in value.split(",") if v])


def add_names_argument(parser: argparse.ArgumentParser, flag: str, help: str, default: list[str] | None = None,
                       old: str | None = None) -> None:
    """``flag`` (plural) takes space-separated names; ``old`` is a deprecated spelling of it."""
    parser.add_argument(flag, *([old] if old else []), action=Names, default=default, help=help)


DATA_FORMATS = ("csv", "json")  # with these, stdout carries only data; notes and progress go to stderr


def add_format_argument(parser: argparse.ArgumentParser, formats: tuple[str, ...] = FORMATS, what: str = "table",
                        json_flag: bool = False) -> None:
    """``--format``; with ``json_flag`` also ``--json``, short for ``--format json``."""
    parser.add_argument("--format", choices=formats, default=formats[0], help=f"output format of the {what}")
    if json_flag:
        parser.add_argument("--json", dest="format", action="store_const", const="json",
                            help="short for --format json: only JSON on stdout, notes on stderr")


def notes_to_stderr(fmt: str) -> contextlib.AbstractContextManager[object]:
    """Inside, whatever is printed goes to stderr when ``fmt`` is a data format, so stdout holds only the data."""
    return contextlib.redirect_stdout(sys.stderr) if fmt in DATA_FORMATS else contextlib.nullcontext()


def default_store() -> Path:
    return cache_dir() / "results.sqlite"


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", type=Path, default=None,
                        help=f"SQLite results store (default: {default_store()})")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    add_store_argument(parser)
    parser.add_argument("--data-root", default=None, help="dataset root (default: $SLIDE_DATA_ROOT or the user cache)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
    parser.add_argument("--force", action="store_true", help="redo runs already in the store")
    parser.add_argument("--quiet", action="store_true", help="no progress bars; one line per finished run")
    parser.add_argument("--threads", type=checked(Count), default=None,
                        help="CPU threads for torch (default: 1 when the CPU is oversubscribed, else torch's default)")


def make_runner(args: argparse.Namespace) -> Runner:
    """A runner for the command's arguments. ``auto`` and ``cpu`` resolve when something is to run
    (a rerun with nothing to do never loads torch); any other device is checked at once."""
    runner = Runner(
        registry=build_registry(),
        store=ResultsStore(args.store or default_store()),
        cache=EncoderCache(cache_dir() / "encoders"),
        device_spec=args.device,
        data_root=args.data_root,
        quiet=args.quiet,
        threads=args.threads,
    )
    if args.device not in ("auto", "cpu"):
        runner.device  # noqa: B018 (a bad device is bad input: fail now, before anything else)
    return runner


def report_failures(df: pd.DataFrame) -> int:
    """List the runs of ``df`` that did not finish ``ok`` on stderr, one line each with the first line
    of its error; the exit code: 1 if there are any, else 0."""
    failed = df[df["status"] != "ok"] if len(df) else df
    if not len(failed):
        return 0
    print(f"slide-bench: {len(failed)} of {len(df)} runs did not finish ok:", file=sys.stderr)
    for _, row in failed.iterrows():
        print(f"  {row['status']:<6} {row['pretrainer']}/{row['slimmer']}/{row['head']} {row['dataset']} "
              f"pretrain seed {row['seed']}, finetune seed {row['finetune_seed']}: {str(row['error']).splitlines()[0]}", file=sys.stderr)
    return 1


def checked(annotation: Any) -> Callable[[str], Any]:
    """An argparse ``type`` for a command-line value declared like an option (``checked(Count)``): parsed
    to its base type and checked against its valid values (:mod:`registry.options`)."""
    base = typing.get_args(annotation)[0] if typing.get_origin(annotation) is typing.Annotated else annotation

    def parse(text: str) -> Any:
        try:
            value = base(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {describe_type(annotation)}, got '{text}'") from None
        problem = check_value(value, annotation)
        if problem:
            raise argparse.ArgumentTypeError(f"{text} is invalid ({problem})")
        return value

    parse.__name__ = describe_type(annotation)
    return parse
