"""What every benchmark shares: warm-up, epoch timing through :class:`~benchmarks.stepper.EpochStepper`,
device-synchronised timing of single calls, and the labels the Markdown report reads."""

from __future__ import annotations

from typing import Any, Callable

import torch

from benchmarks.stepper import EpochStepper
from registry.device import synchronize

WARMUP = 1  # rounds run before timing (first-call allocations, lazy initialisation)


def time_epochs(benchmark: Any, loop: Callable[[Any], Any], device: torch.device, rounds: int) -> Any:
    """Time ``rounds`` epochs of ``loop(ctx)`` (configured for ``WARMUP + rounds`` epochs), one per
    round; returns the loop's result."""
    stepper = EpochStepper(loop, device).start()
    benchmark.pedantic(stepper.step, rounds=rounds, warmup_rounds=WARMUP, iterations=1)
    return stepper.close()


def time_calls(benchmark: Any, fn: Callable[[], Any], device: torch.device, rounds: int) -> Any:
    """Time ``rounds`` calls of ``fn``, each ending with a device synchronisation."""

    def call() -> Any:
        out = fn()
        synchronize(device)
        return out

    synchronize(device)
    return benchmark.pedantic(call, rounds=rounds, warmup_rounds=WARMUP, iterations=1)


def label(benchmark: Any, operation: str, group: str, **labels: Any) -> None:
    """The group (one comparison table in pytest-benchmark's output) and the labels of the report."""
    benchmark.group = f"{operation} {group}"
    benchmark.extra_info.update(operation=operation, labels=labels)
