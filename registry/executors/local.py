"""``local``: cells run one after another in this process (the default)."""

from __future__ import annotations

import time
from typing import Any

from registry.executors.base import Backend, Event, Executor, Task, WorkerContext
from registry.executors.worker import run_task


class LocalBackend:
    def __init__(self, context: WorkerContext):
        self.context, self.queue = context, []

    def submit(self, tasks: list[Task]) -> None:
        self.queue.extend(tasks)

    def capacity(self) -> int:
        return 0 if self.queue else 1

    def poll(self, timeout: float) -> list[Event]:
        if not self.queue:
            time.sleep(timeout)
            return []
        task = self.queue.pop(0)
        return [Event(task, run_task(task, self.context, "local"))]

    def cancel(self) -> None:
        self.queue.clear()

    def close(self) -> None:
        pass


class Local(Executor):
    name = "local"
    description = "one cell after another in this process (default)"

    def open(self, options: Any, context: WorkerContext) -> Backend:
        return LocalBackend(context)
