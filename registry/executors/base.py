"""The executor contract: what a matrix hands to workers and what comes back.

An :class:`Executor` (registered through ``register_executors``) opens a :class:`Backend` for one
matrix. The driver (:mod:`registry.executors.driver`) submits :class:`Task` objects and polls for
:class:`Event` objects; every task runs :func:`registry.executors.worker.run_task` somewhere, which
claims the cell in the store, runs it and writes its row. A backend never writes rows itself,
except that the driver writes a ``failed`` row for a cell whose worker died twice.
"""

from __future__ import annotations

import importlib
from abc import abstractmethod
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal, Protocol

from registry.components import Component
from registry.errors import ConfigError, PluginError
from registry.plugins import PluginRecipe
from registry.runner import Cell


@dataclass(frozen=True)
class WorkerContext:
    """Everything a worker needs to rebuild the driver's runner (picklable, paths absolute)."""

    store: str
    cache: str
    data_root: str | None
    device: str = "auto"
    threads: int | None = None
    force: bool = False
    claim_ttl: float = 120.0
    plugins: PluginRecipe | str | None = None  # None: the environment's plugins; str: why workers cannot load them


def check_worker_plugins(context: WorkerContext) -> None:
    """For executors whose workers are other processes: the plugins in use can be loaded there, or one line."""
    if isinstance(context.plugins, str):
        raise PluginError(context.plugins)


@dataclass(frozen=True)
class Task:
    cell: Cell
    key: str  # the driver's key for the cell: a worker that resolves another one refuses it
    refresh: bool = False  # --force: this cell pretrains its encoder again (the first of its group)


@dataclass
class Outcome:
    """What a worker reports: it ran the cell (``ran``, with the row's status and report line), found
    it finished (``done``), found it claimed by another live worker (``busy``), or met bad input
    (``error``, the message in ``line``: the matrix stops)."""

    key: str
    state: Literal["ran", "done", "busy", "error"]
    worker: str
    status: str = ""
    line: str = ""


@dataclass
class Event:
    """A finished task: its outcome, or ``lost`` (the worker died, the job failed) with a reason."""

    task: Task
    outcome: Outcome | None = None
    lost: str = ""


class Backend(Protocol):
    """One matrix's use of an executor."""

    def submit(self, tasks: list[Task]) -> None:
        """Queue tasks (they run in any order, as workers free up)."""

    def capacity(self) -> int:
        """How many more tasks to submit now (the driver holds the rest back for the cell graph)."""

    def poll(self, timeout: float) -> list[Event]:
        """Finished tasks, waiting at most ``timeout`` seconds for the first one."""

    def cancel(self) -> None:
        """Stop what is queued and running (Ctrl-C); finished rows are in the store already."""

    def close(self) -> None:
        """Release workers after a completed matrix."""


class Executor(Component):
    """Where cells run: this process, local worker processes, a Ray cluster, a SLURM cluster."""

    kind = "executor"

    @abstractmethod
    def open(self, options: Any, context: WorkerContext) -> Backend:
        """Start (or connect to) the workers for one matrix."""


def require(module: str, extra: str) -> ModuleType:
    """Import an optional dependency, or fail with one line naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"the {extra} executor needs '{module}': pip install 'slide-bench[{extra}]'") from None
