"""The hooks through which plugins extend slide-bench.

A plugin is any module or object with functions marked ``@registry.hookimpl`` whose names match
the specs below. Installed packages expose theirs under the entry-point group ``slide_bench``::

    [project.entry-points.slide_bench]
    my_plugin = "my_package.plugin"

A folder of ``*.py`` plugins is loaded with ``SLIDE_BENCH_PLUGINS_DIR=DIR``; tests build a manager
from given plugins with :mod:`registry.testing`. Every ``register_*`` hook receives a ``register``
callable; call it once per object you add. Each object is checked at once (:mod:`registry.checks`);
a mistake stops the command with one line naming your plugin. The registry records which plugin
added each name, and a name added twice is an error that names both plugins. An implementation may
leave out arguments it does not use (pluggy's opt-in arguments). Complete examples of each kind:
README.md, "Writing a plugin".
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Callable

import pluggy

if TYPE_CHECKING:
    from registry.components import DatasetSpec, Head, Pretrainer, Slimmer
    from registry.executors.base import Executor
    from registry.slimming import SelectionRule
    from registry.spec import SpecFile
    from registry.tasks import Task

PROJECT = "slide_bench"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_pretrainers(register: Callable[[Pretrainer], None]) -> None:
    """Register self-supervised pretrainers (e.g. GraphMAE).

    :param register: call ``register(pretrainer)`` with an *instance* of a :class:`registry.Pretrainer`
        subclass. It implements ``pretrain(data, options, ctx)`` returning an encoder that follows the
        encoder contract (:mod:`registry.components`; to work with every slimmer, also
        :class:`registry.slimming.SlimmableEncoder`), an ``Encoder`` class (rebuilt for the cache as
        ``Encoder(**arch)``) or ``build_encoder(arch)``, and optionally ``init_encoder(data, options)``
        so that slimmers are checked before any training. :mod:`registry.training` has a plain Adam
        loop (``minimise``) and its options (``TrainOptions``) to extend.

    Example: README "Writing a plugin", pretrainer.
    """


@hookspec
def register_slimmers(register: Callable[[Slimmer], None]) -> None:
    """Register slimming strategies that turn a pretrained encoder into a smaller one.

    :param register: call ``register(slimmer)`` with an instance of a :class:`registry.Slimmer`
        subclass; its ``slim(encoder, options, seed)`` returns a *new* encoder, usually through
        :func:`registry.slimming.slim_encoder` (ratios per layer, kept layers, a selection rule).

    Example: README "Writing a plugin", importance-guided slimmer.
    """


@hookspec
def register_selection_rules(register: Callable[[SelectionRule], None]) -> None:
    """Register rules choosing which units of a layer a slimmer keeps.

    :param register: call ``register(rule)`` with a :class:`registry.slimming.SelectionRule`, e.g.
        ``ScoreRule("norm", score)`` where ``score(layer_view)`` returns one score per unit. Every
        slimmer with :class:`registry.slimming.SelectionOptions` then takes it by name:
        ``--set slim.selection=norm``. The core registers ``stride`` and ``random``.

    Example: README "Writing a plugin", importance-guided slimmer.
    """


@hookspec
def register_heads(register: Callable[[Head], None]) -> None:
    """Register fine-tune heads (linear probe, full fine-tuning, ...).

    :param register: call ``register(head)`` with an instance of a :class:`registry.Head` subclass.
        Its ``fit(encoder, data, options, ctx)`` trains on its private copy of the encoder and returns
        the metrics :meth:`registry.Head.fit` lists; :mod:`registry.heads` has the classifier,
        best-validation tracking, budget accounting and receptive-field batches the built-ins use.

    Example: README "Writing a plugin", head.
    """


@hookspec
def register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    """Register datasets of any registered task.

    :param register: call ``register(DatasetSpec(name, load, description, task))``; ``load(root, split_seed)``
        returns what the task provides (:mod:`registry.tasks`), for node classification (the default
        task) a PyG ``Data`` with ``x``, ``edge_index``, ``y``, boolean ``train_mask``/``val_mask``/
        ``test_mask`` and ``num_classes`` (see :class:`registry.DatasetSpec`).

    Example: README "Writing a plugin", dataset.
    """


@hookspec
def register_tasks(register: Callable[[Task], None]) -> None:
    """Register tasks (the core registers node classification, link prediction and graph classification).

    :param register: call ``register(Task(name, description, provides, required_metrics, metrics, primary,
        check_data))`` (:class:`registry.tasks.Task`); datasets then declare it (``DatasetSpec(..., task=name)``)
        and heads and pretrainers list it in their ``tasks``.
    """


@hookspec
def register_specs(register: Callable[[SpecFile], None]) -> None:
    """Ship named matrix specs, run with ``slide-bench matrix NAME`` and listed by ``slide-bench specs``.

    :param register: call ``register(SpecFile(path))`` for a TOML spec file (format:
        :mod:`registry.spec`); its name is the file's stem unless given, its description the file's
        ``description`` key. Names are shared with the core's shipped specs: a clash names both plugins.
    """


@hookspec
def register_defaults(register: Callable[[str, str, dict[str, dict[str, Any]]], None]) -> None:
    """Supply per-dataset defaults for *another* plugin's component (e.g. your pretrainer's official
    linear-probe settings).

    :param register: call ``register(kind, name, overrides)`` with kind ``"pretrainer"``,
        ``"slimmer"`` or ``"head"``, the component's name, and ``overrides`` keyed as a component's own
        (``"Cora"`` or ``"my-pretrainer/Cora"``) mapping to ``{option: value}``. They apply like the
        component's own ``overrides`` (before presets and ``--set``); an unknown component or option, a
        value the component already sets for that key, or two plugins setting the same value is an
        error. ``slide-bench describe`` shows them with the plugin that supplied them.
    """


@hookspec
def register_executors(register: Callable[[Executor], None]) -> None:
    """Register executors: where the cells of a matrix run (``slide-bench matrix --executor NAME``).

    An executor is a :class:`registry.executors.base.Executor` whose ``open(options, context)``
    returns a backend that runs :func:`registry.executors.worker.run_task` for each submitted task
    on some worker and reports each outcome; workers claim cells and write rows themselves.

    :param register: call ``register(executor)`` with an Executor instance.

    Example::

        @hookimpl
        def register_executors(register):
            register(MyClusterExecutor())
    """


@hookspec
def register_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add sub-commands to the ``slide-bench`` command line.

    :param subparsers: the argparse sub-parser collection; add a parser and set its ``func``
        default to a callable taking the parsed ``argparse.Namespace`` and returning an exit code
        (None: 0). Raise :class:`registry.errors.SlideBenchError` for bad input: one line, exit 2.
    """
