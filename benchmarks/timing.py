"""What every benchmark shares: warm-up, epoch timing through :class:`~benchmarks.stepper.EpochStepper`,
device-synchronised timing of single calls, their peak memory (:mod:`benchmarks.memory`), and the
labels the Markdown report reads."""

from __future__ import annotations

from typing import Any, Callable

import torch

from benchmarks.memory import measured
from benchmarks.stepper import EpochStepper
from registry.device import synchronize

WARMUP = 1  # rounds run before timing (first-call allocations, lazy initialisation)


def time_epochs(benchmark: Any, loop: Callable[[Any], Any], device: torch.device, rounds: int) -> Any:
    """Time ``rounds`` epochs of ``loop(ctx)`` (configured for ``WARMUP + rounds`` epochs), one per
    round, and their peak memory; returns the loop's result."""
    stepper = EpochStepper(loop, device).start()
    measured(benchmark, device, lambda: benchmark.pedantic(stepper.step, rounds=rounds, warmup_rounds=WARMUP,
                                                           iterations=1))
    return stepper.close()


def time_calls(benchmark: Any, fn: Callable[[], Any], device: torch.device, rounds: int) -> Any:
    """Time ``rounds`` calls of ``fn``, each ending with a device synchronisation, and their peak memory."""

    def call() -> Any:
        out = fn()
        synchronize(device)
        return out

    synchronize(device)
    return measured(benchmark, device, lambda: benchmark.pedantic(call, rounds=rounds, warmup_rounds=WARMUP,
                                                                  iterations=1))


def label(benchmark: Any, operation: str, group: str, **labels: Any) -> None:
    """The group (one comparison table in pytest-benchmark's output) and the labels of the report."""
    benchmark.group = f"{operation} {group}"
    benchmark.extra_info.update(operation=operation, labels=labels)
