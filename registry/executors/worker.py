"""What runs one cell on any worker: claim it in the store, run it, write its row, release it."""

from __future__ import annotations

from pathlib import Path

from registry.cache import EncoderCache
from registry.claims import Claims, Heartbeat, Owner
from registry.errors import ConfigError, SlideBenchError
from registry.executors.base import Outcome, Task, WorkerContext, check_worker_plugins
from registry.runner import Runner

_runners: dict[WorkerContext, Runner] = {}


def runner_for(context: WorkerContext) -> Runner:
    """One runner per context and process: registry, datasets and store are built once per worker."""
    if context not in _runners:
        from registry.plugins import build_registry, install_plugin_manager
        from registry.store import ResultsStore

        check_worker_plugins(context)
        if context.plugins is not None:  # the driver's in-process plugins (registry.testing)
            install_plugin_manager(context.plugins.build())
        _runners[context] = Runner(build_registry(), ResultsStore(context.store), EncoderCache(Path(context.cache)),
                                   context.device, data_root=context.data_root, quiet=True, threads=context.threads)
    return _runners[context]


def prime(context: WorkerContext, runner: Runner) -> None:
    """Let workers of this process (the ``local`` executor) use the driver's runner."""
    _runners[context] = runner


def run_task(task: Task, context: WorkerContext, worker: str) -> Outcome:
    """Run ``task`` unless it is finished or claimed by a live worker; the row is in the store when
    this returns. A cell that raises is a ``failed`` row; bad input is an ``error`` outcome."""
    try:
        return _run_task(task, context, worker)
    except SlideBenchError as exc:
        return Outcome(task.key, "error", worker, line=str(exc))


def _run_task(task: Task, context: WorkerContext, worker: str) -> Outcome:
    runner = runner_for(context)
    resolved = runner.resolve(task.cell)
    if resolved.key != task.key:
        raise ConfigError(f"worker {worker} resolves {task.cell.label} to another configuration than the driver "
                          "(different plugins or versions installed?)")
    runner._force = task.refresh  # --force pretrains each encoder again once: in its group's first cell
    claims, owner = Claims(context.store), Owner(worker)
    state = claims.claim(task.key, owner, str(runner.device), context.claim_ttl, context.force)
    if state != "claimed":
        return Outcome(task.key, state, worker)
    try:
        with Heartbeat(claims, owner, context.claim_ttl):
            row = runner._run_one(resolved)
            runner.store.write(row)
    finally:
        claims.release(task.key, owner)
    return Outcome(task.key, "ran", worker, row["status"], runner.report_line(row, task.cell))
