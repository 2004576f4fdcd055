"""Numbers a cell may not store as ``ok``: a training quantity that became NaN or infinite, and metrics
that are incomplete or non-finite.

A loss that becomes NaN or infinite stops the cell as ``failed``, naming the quantity and the epoch
(:class:`NonFiniteError`, raised by :class:`FiniteWatch` and by :class:`registry.heads.FitTracker`); a head
whose metrics lack one it declares (``Head.required_metrics``, by default
:data:`registry.metrics.REQUIRED_METRICS`) or hold a non-finite number fails too (:func:`check_metrics`);
so does an encoder with non-finite weights (:func:`check_finite_weights`). :func:`unusable_rows` finds
such rows in a store written before these checks, so that tables and comparisons skip them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    import pandas as pd
    from torch import Tensor, nn


class ResultError(Exception):
    """A result that must not be stored as ``ok``; the cell is stored as ``failed`` with this reason."""


class NonFiniteError(ResultError, ArithmeticError):
    """A training quantity became NaN or infinite."""


class FiniteWatch:
    """The per-epoch values of one quantity (a loss), checked on the host every ``every`` epochs and at
    :meth:`check`: one device-to-host transfer per check, none per epoch."""

    def __init__(self, quantity: str, every: int = 50):
        self.quantity, self.every = quantity, every
        self._epochs: list[int] = []
        self._values: list[Any] = []

    def __call__(self, epoch: int, value: Tensor | float) -> None:
        self._epochs.append(epoch)
        self._values.append(value.detach() if hasattr(value, "detach") else value)
        if len(self._values) >= self.every:
            self.check()

    def check(self) -> None:
        """Raise :class:`NonFiniteError` at the first recorded epoch whose value is not finite."""
        import torch

        if not self._values:
            return
        values = torch.stack([torch.as_tensor(v, dtype=torch.float32).reshape(()) for v in self._values]).tolist()
        epochs, self._epochs, self._values = self._epochs, [], []
        for epoch, value in zip(epochs, values):
            if not math.isfinite(value):
                raise NonFiniteError(f"{self.quantity} became {value} at epoch {epoch}")


def check_metrics(metrics: Any, required: Iterable[str], who: str) -> None:
    """Raise :class:`ResultError` when ``metrics`` is not a dict, lacks a ``required`` name, or holds a
    non-finite number."""
    if not isinstance(metrics, dict):
        raise ResultError(f"{who} returned {type(metrics).__name__}, not a dict of metrics")
    missing = [name for name in required if metrics.get(name) is None]
    if missing:
        raise ResultError(f"{who} returned no {', '.join(missing)}")
    for name, value in metrics.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ResultError(f"{who} returned a non-finite {name} ({value})")


def check_finite_weights(module: nn.Module, who: str) -> None:
    """Raise :class:`NonFiniteError` when a parameter of ``module`` holds NaN or infinity (one transfer)."""
    import torch

    params = [(name, p) for name, p in module.named_parameters() if p.is_floating_point() and p.numel()]
    if not params:
        return
    finite = torch.stack([torch.isfinite(p.detach()).all() for _, p in params]).tolist()
    bad = [name for (name, _), ok in zip(params, finite) if not ok]
    if bad:
        raise NonFiniteError(f"{who} has non-finite weights ({', '.join(bad[:3])})")


def unusable_rows(df: pd.DataFrame, required: Iterable[str]) -> pd.Series:
    """Rows stored as ``ok`` that lack a ``required`` metric column value or hold a non-finite one
    (a store written before these checks): a boolean mask over ``df``."""
    import numpy as np
    import pandas as pd

    bad = pd.Series(False, index=df.index)
    if "status" not in df.columns:
        return bad
    for name in required:
        column = df[name] if name in df.columns else pd.Series(np.nan, index=df.index)
        numbers = pd.to_numeric(column, errors="coerce")
        bad |= ~np.isfinite(numbers.astype(float))
    return bad & (df["status"] == "ok")
