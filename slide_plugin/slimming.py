"""Slimming strategies (paper §1a): keep a fraction of each layer's neurons and/or the first layers,
through the generic contract of :mod:`registry.slimming`.

Neuron selection: any registered rule (``--set slim.selection=NAME``); ``stride`` keeps every k-th unit
(the official code's uniform element selection, which produced the published numbers); ``random`` keeps
a seeded random subset (the paper's text).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

from registry import Count, Ratio, Slimmer
from registry.slimming import SelectionOptions, SlimmableEncoder, slim_encoder

if TYPE_CHECKING:
    from torch import nn


@dataclass
class CustomOptions(SelectionOptions):
    """``ratios``: keep-ratio per kept layer (one value: every layer); ``layers``: how many first layers to keep."""

    ratios: list[Ratio] = field(default_factory=lambda: [1.0])
    layers: Count | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.ratios:
            raise ValueError("ratios must not be empty")
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
        layers = self.layers
        if layers is not None and isinstance(encoder, SlimmableEncoder):  # "2-X" on a 1-layer encoder: 1-X
            layers = min(layers, len(encoder.layer_views()))
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
