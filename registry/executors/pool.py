"""``pool``: N local worker processes, each on its own CPU cores and threads, or its own GPU.

Workers are spawned processes that build their own runner once and then take one cell at a time
from the driver over a pipe, so the driver always knows which cell a worker holds: a worker that
dies (killed, segfault, out-of-memory killer) is replaced and its cell reported lost.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from registry.errors import ConfigError
from registry.executors.base import Backend, Event, Executor, Task, WorkerContext, check_worker_plugins
from registry.executors.worker import run_task


@dataclass
class PoolOptions:
    workers: int = 0        # 0: one per visible GPU (times runs_per_gpu), else one per CPU core
    runs_per_gpu: int = 1   # workers sharing each GPU
    threads: int = 0        # torch threads per worker; 0: the cores divided among the workers
    pin: bool = True        # pin each worker to its own cores (when there are enough)

    def __post_init__(self) -> None:
        if self.workers < 0 or self.runs_per_gpu < 1 or self.threads < 0:
            raise ValueError("workers and threads must be >= 0, runs_per_gpu >= 1")


def _serve(name: str, conn: Connection, context: WorkerContext, cpus: list[int] | None) -> None:
    """A worker's loop: one task in, one outcome (or the traceback of an unexpected error) out."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's: it stops the workers
    if cpus:
        os.sched_setaffinity(0, cpus)
    while True:
        try:
            task = conn.recv()
        except EOFError:  # the driver is gone
            return
        try:
            conn.send((run_task(task, context, name), ""))
        except Exception:
            conn.send((None, traceback.format_exc(limit=8)))


@dataclass
class Slot:
    name: str
    context: WorkerContext
    cpus: list[int] | None
    process: Any = None
    conn: Connection | None = None
    task: Task | None = None

    def start(self, mp: Any) -> None:
        self.conn, child = mp.Pipe()
        self.process = mp.Process(target=_serve, args=(self.name, child, self.context, self.cpus), daemon=True,
                                  name=self.name)
        self.process.start()
        child.close()


class PoolBackend:
    def __init__(self, slots: list[Slot]):
        self.mp = multiprocessing.get_context("spawn")
        self.slots = slots
        for slot in slots:
            slot.start(self.mp)

    def capacity(self) -> int:
        return sum(slot.task is None for slot in self.slots)

    def submit(self, tasks: list[Task]) -> None:
        idle = (slot for slot in self.slots if slot.task is None)
        for task, slot in zip(tasks, idle, strict=False):
            slot.task = task
            slot.conn.send(task)

    def poll(self, timeout: float) -> list[Event]:
        wait([s.conn for s in self.slots if s.task] + [s.process.sentinel for s in self.slots], timeout)
        events = []
        for slot in self.slots:
            if slot.task and slot.conn.poll():
                try:
                    outcome, error = slot.conn.recv()
                    events.append(Event(slot.task, outcome, error))
                    slot.task = None
                except (EOFError, OSError):
                    pass  # died while answering: handled below
            if not slot.process.is_alive():
                if slot.task:
                    events.append(Event(slot.task, lost=f"worker {slot.name} died (exit code {slot.process.exitcode})"))
                    slot.task = None
                slot.start(self.mp)
        return events

    def cancel(self) -> None:
        for slot in self.slots:
            slot.process.kill()
        for slot in self.slots:
            slot.process.join()

    def close(self) -> None:
        for slot in self.slots:
            slot.conn.close()
        for slot in self.slots:
            slot.process.join(timeout=10)
            if slot.process.is_alive():
                slot.process.kill()


def plan_slots(options: PoolOptions, context: WorkerContext) -> list[Slot]:
    """Worker i: GPU i mod #GPUs (when the device is a GPU), an equal share of the cores."""
    import torch

    device = context.device
    gpus = torch.cuda.device_count() if device in ("auto", "cuda") else 0
    if device.startswith("cuda") and not gpus:
        gpus = 1 if torch.cuda.is_available() else 0
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    workers = options.workers or (gpus * options.runs_per_gpu if gpus else len(cores))
    if gpus and workers > gpus * options.runs_per_gpu:
        raise ConfigError(f"pool: {workers} workers on {gpus} GPU(s) need runs_per_gpu >= "
                          f"{-(-workers // gpus)} (--executor-set runs_per_gpu=N)")
    share = max(1, len(cores) // workers)
    slots = []
    for i in range(workers):
        if gpus:
            worker_device = f"cuda:{i % gpus}" if device in ("auto", "cuda") else device
        else:
            worker_device = "cpu"
        cpus = cores[i * share:(i + 1) * share] if options.pin and workers <= len(cores) else None
        threads = options.threads or share
        slots.append(Slot(f"pool-{i + 1}", dataclasses.replace(context, device=worker_device, threads=threads), cpus))
    return slots


class Pool(Executor):
    name = "pool"
    description = "N local worker processes (--workers N), each on its own cores or GPU"
    Options = PoolOptions

    def open(self, options: PoolOptions, context: WorkerContext) -> Backend:
        check_worker_plugins(context)
        return PoolBackend(plan_slots(options, context))
