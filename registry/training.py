"""A plain training loop for plugins: :class:`TrainOptions` to extend and :func:`minimise` to run it.

A pretrainer whose training is "Adam on a loss for some epochs" needs no loop of its own::

    @dataclass
    class MyOptions(TrainOptions):  # epochs, lr, weight_decay, and:
        hidden: Count = 64

    minimise(lambda: loss_of(encoder, decoder), [encoder, decoder], options, ctx)

The loss is watched: a NaN or infinite value stops the cell as ``failed``, naming the epoch
(:class:`registry.numerics.FiniteWatch`). Heads have the same conveniences on
:class:`registry.heads.FitTracker` (:meth:`~registry.heads.FitTracker.epochs`,
:meth:`~registry.heads.FitTracker.optimise`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from registry.components import RunContext
from registry.numerics import FiniteWatch
from registry.options import Count, NonNegativeFloat, PositiveFloat

if TYPE_CHECKING:
    from torch import Tensor, nn


@dataclass
class TrainOptions:
    """The options of one Adam loop; a component's ``Options`` may extend it with its own fields."""

    epochs: Count = 100
    lr: PositiveFloat = 0.01
    weight_decay: NonNegativeFloat = 0.0


def minimise(loss: Callable[[], Tensor], modules: Sequence[nn.Module], options: TrainOptions, ctx: RunContext,
             desc: str = "train") -> list[float]:
    """Move ``modules`` to ``ctx.device`` (in place), put them in training mode and take
    ``options.epochs`` Adam steps (``options.lr``, ``options.weight_decay``) on their parameters, one
    per ``loss()`` call, and return the losses.
    A non-finite loss raises :class:`registry.numerics.NonFiniteError` naming its epoch."""
    import torch

    for module in modules:
        module.to(ctx.device).train()
    params = [p for module in modules for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=options.lr, weight_decay=options.weight_decay)
    watch, losses = FiniteWatch(f"{desc} loss"), []
    for epoch in ctx.progress(range(options.epochs), desc=desc, unit="epoch"):
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
        watch(epoch, value)
        losses.append(value.detach())
    watch.check()
    return torch.stack(losses).tolist() if losses else []
