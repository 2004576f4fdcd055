"""The hooks through which plugins extend slide-bench.

A plugin is any module or object with functions marked ``@registry.hookimpl`` whose names match
the specs below. Installed packages expose theirs under the entry-point group ``slide_bench``::

    [project.entry-points.slide_bench]
    my_plugin = "my_package.plugin"

Every ``register_*`` hook receives a ``register`` callable; call it once per object you add.
The registry records which plugin added each name, and a name added twice is an error that
names both plugins.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Callable

import pluggy

if TYPE_CHECKING:
    from registry.components import DatasetSpec, Head, Pretrainer, Slimmer

PROJECT = "slide_bench"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_pretrainers(register: Callable[[Pretrainer], None]) -> None:
    """Register self-supervised pretrainers (e.g. GraphMAE).

    :param register: call ``register(pretrainer)`` with a :class:`registry.Pretrainer` instance.
    """


@hookspec
def register_slimmers(register: Callable[[Slimmer], None]) -> None:
    """Register slimming strategies that turn a pretrained encoder into a smaller one.

    :param register: call ``register(slimmer)`` with a :class:`registry.Slimmer` instance.
    """


@hookspec
def register_heads(register: Callable[[Head], None]) -> None:
    """Register fine-tune heads (linear probe, full fine-tuning, ...).

    :param register: call ``register(head)`` with a :class:`registry.Head` instance.
    """


@hookspec
def register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    """Register node-classification datasets.

    :param register: call ``register(spec)`` with a :class:`registry.DatasetSpec`.
    """


@hookspec
def register_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add sub-commands to the ``slide-bench`` command line.

    :param subparsers: the argparse sub-parser collection; add a parser and set its
        ``func`` default to a callable taking the parsed ``argparse.Namespace``.
    """
