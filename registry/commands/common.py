"""Arguments and objects shared by the sub-commands that run things."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from registry.cache import EncoderCache
from registry.datasets import cache_dir
from registry.device import resolve_device
from registry.plugins import build_registry
from registry.runner import Runner
from registry.store import ResultsStore

if TYPE_CHECKING:
    import torch


FORMATS = ("markdown", "csv", "latex")  # what --format accepts wherever a table is printed


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
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: 1 when the CPU is oversubscribed, else torch's default)")


def set_threads(threads: int | None, device: torch.device) -> None:
    """Intra-op threads busy-wait: on a CPU whose load already exceeds its cores, one thread is
    several times faster than torch's default (same results; measured 5x on a shared 2-core box)."""
    if threads is None and device.type == "cpu" and os.getloadavg()[0] > (os.cpu_count() or 1):
        threads = 1
    if threads:
        import torch

        torch.set_num_threads(threads)


def make_runner(args: argparse.Namespace) -> Runner:
    device = resolve_device(args.device)
    set_threads(args.threads, device)
    return Runner(
        registry=build_registry(),
        store=ResultsStore(args.store or default_store()),
        cache=EncoderCache(cache_dir() / "encoders"),
        device=device,
        data_root=args.data_root,
        quiet=args.quiet,
    )
