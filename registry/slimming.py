"""The slimming contract: an encoder made of layers of units (neurons) that can be narrowed and cut.

A slimmer never reaches into an encoder's modules. It reads one :class:`LayerView` per layer (how many
units, in how many heads, and the weights that produce each unit), picks the units to keep with a
selection rule, and asks the encoder for a smaller copy (:meth:`SlimmableEncoder.slimmed`)::

    from registry.slimming import slim_encoder

    slim_encoder(encoder, [0.5])                                   # half of every layer, stride rule
    slim_encoder(encoder, [1.0, 0.25], layers=2, rule="random")    # first 2 layers, seeded random
    slim_encoder(encoder, [0.5], rule=lambda layer: layer.unit_weights().norm(dim=(0, 2)))  # top scores

Selection rules are registered components (``register_selection_rules``): ``stride`` (every k-th
unit, the official SLIDE code), ``random`` (seeded) and any a plugin adds, e.g. a :class:`ScoreRule`
keeping the units with the highest scores. Slimmers whose options are :class:`SelectionOptions`
take any registered rule by name (``--set slim.selection=NAME``).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol, Sequence, runtime_checkable

from registry.components import Component
from registry.hookspecs import hookimpl
from registry.seed import derive_seed

if TYPE_CHECKING:  # torch loads when a rule runs: the core plugin list stays light (`slide-bench --help`)
    from torch import Tensor, nn


@dataclass(frozen=True)
class LayerView:
    """One layer as a slimmer sees it. ``weight [heads * units, fan_in]`` (or None when the layer has no
    single input map) holds, in row ``h * units + u``, the incoming weights of unit ``u`` in head ``h``
    (head-major). Slicing keeps the same units in every head and the matching input columns of the next
    layer; the encoder does it in :meth:`SlimmableEncoder.slimmed`."""

    units: int
    heads: int = 1
    weight: Tensor | None = None

    def unit_weights(self) -> Tensor:
        """``[heads, units, fan_in]``: the incoming weights of every unit in every head."""
        if self.weight is None:
            raise ValueError("this layer exposes no weights")
        return self.weight.detach().view(self.heads, self.units, -1)


@runtime_checkable
class SlimmableEncoder(Protocol):
    """What an encoder implements so that every slimmer (built-in or not) can slim it. It also follows
    the encoder contract of :mod:`registry.components` (``forward``, ``embedding_dim``, ``arch``).

    Optionally it defines ``kept_units(index, ratio, layers=None) -> int``: how many units layer ``index``
    keeps at keep-ratio ``ratio`` when a slimmer keeps the first ``layers`` layers (None: all); without
    it, ``max(1, round(units * ratio))``.
    """

    def layer_views(self) -> Sequence[LayerView]:
        """One view per layer, first to last."""

    def slimmed(self, unit_keeps: Sequence[Tensor]) -> "nn.Module":
        """A new, smaller encoder of the first ``len(unit_keeps)`` layers; layer ``i`` keeps the sorted
        unit indices ``unit_keeps[i]`` in every head; every affected tensor is copied at the kept
        indices; ``self`` is left untouched. The result is again a :class:`SlimmableEncoder`."""


class SelectionRule(Component):
    """Which ``k`` of a layer's units to keep. Subclasses implement :meth:`select`."""

    kind = "selection"

    @abstractmethod
    def select(self, layer: LayerView, k: int, seed: int) -> Tensor:
        """``k`` distinct unit indices of ``layer``, sorted ascending; ``seed`` seeds any randomness."""


class ScoreRule(SelectionRule):
    """Keeps the ``k`` units with the highest ``score(layer)`` (a tensor ``[units]``)."""

    def __init__(self, name: str, score: Callable[[LayerView], Tensor], description: str = ""):
        self.name, self.score, self.description = name, score, description or f"the units with the highest {name}"

    def select(self, layer: LayerView, k: int, seed: int) -> Tensor:
        scores = self.score(layer)
        if tuple(scores.shape) != (layer.units,):
            raise ValueError(f"selection rule '{self.name}' scored {tuple(scores.shape)} values for {layer.units} units")
        return scores.topk(k).indices.sort().values


class Stride(SelectionRule):
    name = "stride"
    description = "every (units/k)-th unit when it divides, else rounded linspace (the official SLIDE code)"

    def select(self, layer: LayerView, k: int, seed: int) -> Tensor:
        import torch

        n = layer.units
        return torch.arange(0, n, n // k) if n % k == 0 else torch.linspace(0, n - 1, k).round().long()


class Random(SelectionRule):
    name = "random"
    description = "a seeded random subset (the paper's text)"

    def select(self, layer: LayerView, k: int, seed: int) -> Tensor:
        import torch

        generator = torch.Generator().manual_seed(seed)
        return torch.randperm(layer.units, generator=generator)[:k].sort().values


#: the built-in rules, which names resolve against when no registry is in use
BUILTIN_RULES: dict[str, SelectionRule] = {rule.name: rule for rule in (Stride(), Random())}


def registered_rules() -> dict[str, SelectionRule]:
    """The rules names resolve against: those registered with the plugin manager in use (each
    :func:`registry.testing.plugin_bench` has its own), else the built-ins."""
    from registry.plugins import selection_rules_in_use

    return selection_rules_in_use() or BUILTIN_RULES


def selection_rule(rule: str | SelectionRule | Callable[[LayerView], Tensor]) -> SelectionRule:
    """A rule from its registered name, a :class:`SelectionRule`, or a scoring callable."""
    if isinstance(rule, SelectionRule):
        return rule
    if callable(rule):
        return ScoreRule(getattr(rule, "__name__", "score"), rule)
    from registry.registry import normalize

    rules = registered_rules()
    by_key = {normalize(name): r for name, r in rules.items()}
    if normalize(rule) not in by_key:
        raise ValueError(f"unknown selection rule '{rule}' ({', '.join(rules)})")
    return by_key[normalize(rule)]


@dataclass
class SelectionOptions:
    """``selection``: the name of a registered selection rule (``stride``, ``random``, ...)."""

    selection: str = "stride"

    def __post_init__(self) -> None:
        selection_rule(self.selection)  # an unknown name is a ValueError: a one-line config error


def slim_encoder(encoder: "nn.Module", ratios: Sequence[float], layers: int | None = None,
                 rule: str | SelectionRule | Callable[[LayerView], Tensor] = "stride", seed: int = 0) -> "nn.Module":
    """Keep the first ``layers`` layers (None: all) and ``ratios[i]`` of layer ``i``'s units (one ratio:
    every kept layer) chosen by ``rule``; ``encoder`` must be a :class:`SlimmableEncoder`."""
    if not isinstance(encoder, SlimmableEncoder):
        raise TypeError(f"{type(encoder).__name__} cannot be slimmed: it does not implement "
                        "registry.slimming.SlimmableEncoder (layer_views, slimmed)")
    views = list(encoder.layer_views())
    kept = len(views) if layers is None else layers
    if not 1 <= kept <= len(views):
        raise ValueError(f"this encoder has {len(views)} layers; cannot keep {kept}")
    ratios = list(ratios) * kept if len(ratios) == 1 else list(ratios)
    if len(ratios) != kept:
        raise ValueError(f"got {len(ratios)} ratios for {kept} kept layers")
    chosen = selection_rule(rule)
    kept_units = getattr(encoder, "kept_units", lambda i, ratio, layers: max(1, round(views[i].units * ratio)))
    keeps = [select_units(view, kept_units(i, ratio, layers), chosen, derive_seed(seed, i))
             for i, (view, ratio) in enumerate(zip(views, ratios))]
    return encoder.slimmed(keeps)


def select_units(layer: LayerView | int, k: int, rule: str | SelectionRule | Callable[[LayerView], Tensor] = "stride",
                 seed: int = 0) -> Tensor:
    """``k`` sorted unit indices of ``layer`` (a view, or a number of units) chosen by ``rule``."""
    view = LayerView(layer) if isinstance(layer, int) else layer
    if not 1 <= k <= view.units:
        raise ValueError(f"cannot keep {k} of {view.units} units")
    return selection_rule(rule).select(view, k, seed)


@hookimpl
def register_selection_rules(register: Callable[[SelectionRule], None]) -> None:
    register(Stride())
    register(Random())
