"""Time one epoch of a component's real training loop per benchmark round.

Pretrainers and heads iterate their epochs through ``ctx.progress`` (the :class:`registry.RunContext`
contract). :class:`EpochStepper` hands them a ``progress`` that is a gate: the loop runs in a worker
thread and waits at every epoch boundary; :meth:`EpochStepper.step` opens the gate for one epoch and
returns when the loop asks for the next one (after a device synchronisation). So one call of
``step`` is one epoch of the component's own code (its training step and whatever it does per epoch,
such as evaluation), with the one-time setup before the first epoch and the wrap-up after the last
one left out. Only the first iterable handed to ``ctx.progress`` is gated; inner loops pass through.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterable, Iterator

import torch

from registry import RunContext
from registry.device import synchronize


class EpochStepper:
    """Runs ``loop(ctx)`` in a worker thread, one epoch per :meth:`step`; ``result`` holds its return value."""

    def __init__(self, loop: Callable[[RunContext], Any], device: torch.device, seed: int = 0):
        self.device = device
        self.ctx = RunContext(device, seed, progress=self._progress)
        self.result: Any = None
        self.epochs = 0
        self._loop = loop
        self._gated = False
        self._error: BaseException | None = None
        self._finished = False
        self._go = threading.Semaphore(0)
        self._done = threading.Semaphore(0)
        self._thread = threading.Thread(target=self._main, name="epoch-stepper", daemon=True)

    def _progress(self, iterable: Iterable[Any], **kwargs: Any) -> Iterable[Any]:
        if self._gated:
            return iterable
        self._gated = True
        return self._gate(iterable)

    def _gate(self, iterable: Iterable[Any]) -> Iterator[Any]:
        self._done.release()  # setup finished: the first epoch may start
        for item in iterable:
            self._go.acquire()
            yield item
            synchronize(self.device)
            self.epochs += 1
            self._done.release()

    def _main(self) -> None:
        try:
            self.result = self._loop(self.ctx)
        except BaseException as exc:  # re-raised in the calling thread
            self._error = exc
        finally:
            self._finished = True
            self._done.release()

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def start(self) -> "EpochStepper":
        """Run the setup (everything before the first epoch) and wait at the first epoch."""
        self._thread.start()
        self._done.acquire()
        self._check()
        if self._finished:
            raise RuntimeError("the loop ended before its first epoch: it does not iterate its epochs through "
                               "ctx.progress, or it has none")
        return self

    def step(self) -> None:
        """Run exactly one epoch (blocks until it is done)."""
        if self._finished:
            raise RuntimeError(f"the loop has ended after {self.epochs} epochs; configure more epochs")
        self._go.release()
        self._done.acquire()
        self._check()

    def close(self) -> Any:
        """Let the remaining epochs and the wrap-up run; returns the loop's result."""
        while not self._finished:
            self._go.release()
            self._done.acquire()
        self._thread.join()
        self._check()
        return self.result
