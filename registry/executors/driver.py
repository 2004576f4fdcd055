"""The matrix driver: hands cells to an executor's backend in the order the cell graph allows.

Cells that share a pretrained encoder form a group: its first cell (the leader) pretrains, the
others are held back until the leader is over, then read the encoder from the shared cache. They run
next, ahead of other groups' leaders, so each encoder's rows finish together (a run stopped mid-way
leaves whole seeds, not every seed's first cell). Every
worker claims its cell in the store, so a cell another process runs comes back ``busy``: the
driver waits for it (its row is then done) or, if its owner dies and the claim expires, runs it.
A cell whose worker died is run once more; dying twice, it is stored as ``failed``. One progress
bar shows queued / running (per worker) / done / failed; one line per finished cell.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from typing import Any

from tqdm.auto import tqdm

from registry.claims import Claims
from registry.errors import SlideBenchError
from registry.executors.base import Backend, Event, Task, WorkerContext
from registry.runner import Resolved, Runner, pretraining_key

ATTEMPTS = 2  # a cell whose worker dies this often is a failed row
RECHECK_S = 1.0


class Driver:
    def __init__(self, runner: Runner, todo: list[Resolved], backend: Backend, context: WorkerContext,
                 tagged: bool = True):
        self.runner, self.backend, self.context, self.tagged = runner, backend, context, tagged
        self.items = {r.key: r for r in todo}
        self.claims = Claims(context.store)
        self.ready: deque[Task] = deque()
        self.held: dict[str, list[Task]] = {}
        for item in todo:
            group = pretraining_key(item)
            if group in self.held:
                self.held[group].append(Task(item.cell, item.key))
            else:
                self.held[group] = []
                self.ready.append(Task(item.cell, item.key, refresh=context.force))
                if not context.force and self._encoder_cached(item):
                    self._release(item.key)
        self.outstanding = 0
        self.busy: dict[str, Task] = {}
        self.attempts: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self.bar = tqdm(total=len(todo), desc="matrix", unit="run", disable=True if runner.quiet else None,
                        dynamic_ncols=True)

    def _encoder_cached(self, item: Resolved) -> bool:
        config = item.config
        return self.runner.cache.path(config["dataset"], config["pretrainer"]["name"], config["pretrainer"]["version"],
                                      config["pretrainer"]["options"], item.cell.seed).exists()

    def _release(self, key: str, first: bool = False) -> None:
        """The group of ``key`` may run now (its encoder is cached, or being pretrained elsewhere);
        ``first``: ahead of the queue (its leader just finished here)."""
        group = self.held.pop(pretraining_key(self.items[key]), [])
        if first:
            self.ready.extendleft(reversed(group))
        else:
            self.ready.extend(group)

    def run(self) -> Counter[str]:
        """Run every cell; Ctrl-C cancels the backend's queued and running work and propagates."""
        try:
            last_check = 0.0
            while self.ready or self.held or self.outstanding or self.busy:
                room = min(self.backend.capacity(), len(self.ready))
                if room:
                    self.backend.submit([self.ready.popleft() for _ in range(room)])
                    self.outstanding += room
                for event in self.backend.poll(0.2 if self.busy or not self.outstanding else 1.0):
                    self.outstanding -= 1
                    self._handle(event)
                if time.monotonic() - last_check > RECHECK_S:
                    last_check = time.monotonic()
                    self._recheck_busy()
                    self._show()
            self.backend.close()
        except BaseException:
            self.backend.cancel()
            raise
        finally:
            self.bar.close()
        return self.counts

    def _handle(self, event: Event) -> None:
        key, outcome = event.task.key, event.outcome
        if outcome is None:
            self.attempts[key] += 1
            if self.attempts[key] < ATTEMPTS:
                self.ready.append(event.task)
                return
            row = self.runner.new_row(self.items[key])
            row.update(status="failed", error=f"WorkerLost: {event.lost}", wall_time_s=0.0, peak_memory_mb=None)
            self.runner.store.write(row)
            self._finished(key, "failed", self.runner.report_line(row, event.task.cell), "driver")
        elif outcome.state == "error":
            raise SlideBenchError(outcome.line)
        elif outcome.state == "busy":
            self.busy[key] = event.task
            self._release(key)
        elif outcome.state == "done":
            self._finished(key, "elsewhere", "", outcome.worker)
        else:
            self._finished(key, outcome.status, outcome.line, outcome.worker)

    def _finished(self, key: str, status: str, line: str, worker: str) -> None:
        self.counts[status] += 1
        self._release(key, first=True)
        self.bar.update(1)
        if line:
            line = f"{line}  [{worker}]" if self.tagged else line
            print(line, flush=True) if self.runner.quiet else self.bar.write(line)

    def _recheck_busy(self) -> None:
        """Cells claimed elsewhere: done now, still running, or free again (their owner died)."""
        if not self.busy:
            return
        running = self.claims.running(self.busy)
        done = self.runner.store.done_keys(str(self.runner.device)) if not self.context.force else set()
        for key in list(self.busy):
            if key in done:
                self.busy.pop(key)
                self._finished(key, "elsewhere", "", "")
            elif key not in running:
                self.ready.append(self.busy.pop(key))

    def _show(self) -> None:
        running = self.claims.running(self.items)
        workers = Counter(running.values())
        failed = self.counts["failed"] + self.counts["oom"]
        self.bar.set_postfix_str(f"queued {len(self.ready) + sum(map(len, self.held.values()))}, running "
                                 f"{len(running)} ({', '.join(sorted(workers))}), failed {failed}", refresh=True)


def drive(runner: Runner, todo: list[Resolved], backend: Backend, context: WorkerContext,
          tagged: bool = True) -> dict[str, Any]:
    return dict(Driver(runner, todo, backend, context, tagged).run())
