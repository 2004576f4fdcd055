"""Peak memory of a benchmarked call: resident set size on the CPU, allocated memory on CUDA.

On Linux the process's peak RSS (``VmHWM``) is reset before the call (``/proc/self/clear_refs``,
value 5) and read after it, so the peak is the call's own, not the session's; elsewhere the process's
lifetime peak (``ru_maxrss``) is what can be had, and ``memory_kind`` says so. ``peak_delta_mb`` is the
peak minus the memory in use before the call: what the call itself added (its activations, buffers),
without the datasets and models the session already holds.
"""

from __future__ import annotations

import resource
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

STATUS, CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")


def _status_mb(field: str) -> float:
    for line in STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise KeyError(field)


def _reset_rss_peak() -> bool:
    try:
        CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


@dataclass
class PeakMemory:
    """``peak_mb`` and ``peak_delta_mb`` of the calls made inside ``with PeakMemory(device) as m:``."""

    device: torch.device
    kind: str = ""
    before_mb: float = 0.0
    peak_mb: float = float("nan")

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.kind, self.before_mb = "cuda-allocated", torch.cuda.memory_allocated(self.device) / 2**20
        elif STATUS.exists() and _reset_rss_peak():
            self.kind, self.before_mb = "rss", _status_mb("VmRSS")
        else:  # lifetime peak: an upper bound of the call's
            self.kind, self.before_mb = "rss-lifetime", 0.0
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.kind == "cuda-allocated":
            torch.cuda.synchronize(self.device)
            self.peak_mb = torch.cuda.max_memory_allocated(self.device) / 2**20
        elif self.kind == "rss":
            self.peak_mb = _status_mb("VmHWM")
        else:
            per_mb = 2**20 if sys.platform == "darwin" else 1024  # bytes on macOS, kB on Linux
            self.peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / per_mb

    @property
    def peak_delta_mb(self) -> float:
        return max(0.0, self.peak_mb - self.before_mb)

    def record(self, benchmark: Any) -> None:
        benchmark.extra_info.update(peak_memory_mb=round(self.peak_mb, 1), peak_delta_mb=round(self.peak_delta_mb, 1),
                                    memory_kind=self.kind)


def measured(benchmark: Any, device: torch.device, run: Callable[[], Any]) -> Any:
    """``run()`` (the timed rounds) with its peak memory recorded in ``benchmark.extra_info``."""
    with PeakMemory(device) as memory:
        result = run()
    memory.record(benchmark)
    return result
