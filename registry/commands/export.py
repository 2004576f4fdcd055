"""``slide-bench export``: every stored run, one row each, for pandas, R or a spreadsheet.

Every stored column is kept; metrics become one column each (``metrics.<name>`` where a name is
also a stored column's). In CSV and Parquet the nested columns (config, diagnostics, versions) are
JSON text; in JSON they stay nested.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from registry.commands.common import add_store_argument, default_store
from registry.errors import ConfigError, require_extra
from registry.hookspecs import hookimpl
from registry.store import JSON_COLUMNS, ResultsStore

EXPORT_FORMATS = ("csv", "json", "parquet")


def export(args: argparse.Namespace) -> int:
    if args.format == "parquet":
        if args.output is None:
            raise ConfigError("--format parquet writes a binary file: give it with --output FILE.parquet")
        require_extra("pyarrow", "parquet", "--format parquet")
    df = ResultsStore(args.store or default_store(), read_only=True).frame()
    if args.format == "json":
        text = df.to_json(orient="records", indent=2) + "\n"
    else:
        df = df.assign(**{c: df[c].map(json.dumps) for c in JSON_COLUMNS if c in df})
        if args.format == "parquet":
            df.to_parquet(args.output, index=False)
            print(f"slide-bench: wrote {len(df)} runs to {args.output}", file=sys.stderr)
            return 0
        text = df.to_csv(index=False)
    if args.output is None:
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
        print(f"slide-bench: wrote {len(df)} runs to {args.output}", file=sys.stderr)
    return 0


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="write the store's raw runs as CSV, JSON or Parquet",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--format", choices=EXPORT_FORMATS, default="csv",
                   help="csv, json (records) or parquet (needs pyarrow: pip install 'slide-bench[parquet]')")
    p.add_argument("--output", "-o", type=Path, default=None, metavar="FILE", help="file to write (default: stdout; parquet needs one)")
    add_store_argument(p)
    p.set_defaults(func=export)
