"""Slimming strategies (paper §1a): keep a fraction of each layer's neurons and/or the first layers.

Neuron selection: ``stride`` keeps every k-th unit (the official code's uniform element selection,
which produced the published numbers); ``random`` keeps a seeded random subset (the paper's text).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

from registry import Slimmer
from registry.seed import derive_seed

if TYPE_CHECKING:
    from torch import Tensor, nn

SELECTIONS = ("stride", "random")


def select_units(n: int, k: int, rule: str = "stride", seed: int = 0) -> Tensor:
    """``k`` of ``n`` unit indices, sorted: stride ``n/k`` when it divides, else rounded linspace; or random."""
    import torch

    if not 1 <= k <= n:
        raise ValueError(f"cannot keep {k} of {n} units")
    if rule == "stride":
        if n % k == 0:
            return torch.arange(0, n, n // k)
        return torch.linspace(0, n - 1, k).round().long()
    if rule == "random":
        generator = torch.Generator().manual_seed(seed)
        return torch.randperm(n, generator=generator)[:k].sort().values
    raise ValueError(f"unknown selection '{rule}' ({', '.join(SELECTIONS)})")


def slim_encoder(encoder: nn.Module, ratios: Sequence[float], layers: int | None, rule: str, seed: int) -> nn.Module:
    """Keep the first ``layers`` blocks (None: all) and ``ratio`` of each kept block's units."""
    if not hasattr(encoder, "slimmed"):
        raise TypeError(f"{type(encoder).__name__} cannot be slimmed (it has no 'slimmed' method)")
    blocks = encoder.blocks
    kept = len(blocks) if layers is None else layers
    if not 1 <= kept <= len(blocks):
        raise ValueError(f"this encoder has {len(blocks)} layers; cannot keep {kept}")
    ratios = list(ratios) * kept if len(ratios) == 1 else list(ratios)
    if len(ratios) != kept:
        raise ValueError(f"got {len(ratios)} ratios for {kept} kept layers")
    keeps = []
    for i, (block, ratio) in enumerate(zip(blocks, ratios)):
        k = encoder.kept_units(i, ratio, layers)
        keeps.append(select_units(block.units, k, rule, derive_seed(seed, i)))
    return encoder.slimmed(keeps)


@dataclass
class SelectionOptions:
    """Neuron selection rule: ``stride`` (official code) or ``random`` (seeded)."""

    selection: str = "stride"

    def __post_init__(self) -> None:
        if self.selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {', '.join(SELECTIONS)}, got '{self.selection}'")


@dataclass
class CustomOptions(SelectionOptions):
    """``ratios``: keep-ratio per kept layer (one value: every layer); ``layers``: how many first layers to keep."""

    ratios: list[float] = field(default_factory=lambda: [1.0])
    layers: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.ratios or any(not 0 < r <= 1 for r in self.ratios):
            raise ValueError(f"ratios must be in (0, 1], got {self.ratios}")
        if self.layers is not None and self.layers < 1:
            raise ValueError(f"layers must be at least 1, got {self.layers}")
        if self.layers is not None and len(self.ratios) not in (1, self.layers):
            raise ValueError(f"got {len(self.ratios)} ratios for {self.layers} kept layers (give 1 or {self.layers})")


class RatioSlimmer(Slimmer):
    """A named slimming strategy: fixed keep-ratios and number of kept layers."""

    Options = SelectionOptions

    def __init__(self, name: str, ratios: Sequence[float], layers: int | None, description: str):
        self.name, self.ratios, self.layers, self.description = name, list(ratios), layers, description

    def slim(self, encoder: nn.Module, options: SelectionOptions, seed: int) -> nn.Module:
        if self.ratios == [1.0] and self.layers is None:
            return copy.deepcopy(encoder)  # a new module, as for every strategy: tuning it leaves the original
        layers = None if self.layers is None else min(self.layers, len(encoder.blocks))
        ratios = self.ratios if layers is None or len(self.ratios) == 1 else self.ratios[:layers]
        return slim_encoder(encoder, ratios, layers, options.selection, seed)


class CustomSlimmer(Slimmer):
    name = "custom"
    description = "any keep-ratio per layer and any number of kept first layers (--set slim.ratios=[1,0.5] slim.layers=2)"
    Options = CustomOptions

    def slim(self, encoder: nn.Module, options: CustomOptions, seed: int) -> nn.Module:
        return slim_encoder(encoder, options.ratios, options.layers, options.selection, seed)


BUILTIN = (
    RatioSlimmer("original", [1.0], None, "the pretrained encoder as is"),
    RatioSlimmer("half", [0.5], None, "every layer keeps 1/2 of its neurons"),
    RatioSlimmer("quarter", [0.25], None, "every layer keeps 1/4 of its neurons"),
    RatioSlimmer("2-original", [1.0, 1.0], 2, "first 2 layers, full width"),
    RatioSlimmer("2-half", [1.0, 0.5], 2, "first 2 layers; layer 2 keeps 1/2 of its neurons (SLIDE's default)"),
    RatioSlimmer("2-quarter", [1.0, 0.25], 2, "first 2 layers; layer 2 keeps 1/4 of its neurons"),
    CustomSlimmer(),
)
