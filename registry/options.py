"""Declared valid values of component options, checked before any training.

A field of an ``Options`` dataclass declares what it accepts with :data:`typing.Annotated`::

    @dataclass
    class MyOptions:
        epochs: Count = 100                                   # an int ≥ 1
        lr: PositiveFloat = 0.01                              # finite, > 0
        dropout: Probability = 0.5                            # [0, 1)
        warmup: Annotated[int, Range(0)] = 0                  # ≥ 0 (0: no warm-up)
        batch_size: Count | None = None                       # None, or an int ≥ 1
        ratios: list[Ratio] = field(default_factory=lambda: [1.0])   # every element in (0, 1]
        mode: Annotated[str, OneOf("a", "b")] = "a"
        lr: Annotated[PositiveFloat, Search(1e-4, 0.1, log=True)] = 0.01   # tuned on a log scale
        weight_decay: Annotated[NonNegativeFloat, Choice(0.0, 1e-4, 1e-2)] = 1e-4   # tuned among these

The config resolver (:func:`registry.config.resolve_options`) checks every value of every cell with
:func:`check_value` before it builds an ``Options`` instance, so plugins get the checks for free; a
value of the wrong type and a non-finite float are refused whether or not a range is declared.
Rules that tie several options together (``num_hidden`` divisible by ``num_heads``) stay in the
dataclass's ``__post_init__``. :func:`describe_options` lists each option's type, default and valid
values as text, for display. ``Search`` and ``Choice`` declare what ``slide-bench tune`` may try for an
option (:func:`search_space`); they restrict nothing a user sets.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any


def _number(x: float | None) -> str:
    return str(x) if x is None or isinstance(x, int) else f"{x:g}"


@dataclass(frozen=True)
class Range:
    """Numbers from ``low`` to ``high`` (None: unbounded), ends included unless ``*_open``; always finite."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        low_ok = self.low is None or (value > self.low if self.low_open else value >= self.low)
        high_ok = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return low_ok and high_ok

    def __str__(self) -> str:
        low, high = _number(self.low), _number(self.high)
        if self.low is not None and self.high is not None:
            return f"{'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{'>' if self.low_open else '≥'} {low}"
        if self.high is not None:
            return f"{'<' if self.high_open else '≤'} {high}"
        return "finite"


@dataclass(frozen=True)
class OneOf:
    """One of a fixed set of values."""

    values: tuple[Any, ...]

    def __init__(self, *values: Any):
        object.__setattr__(self, "values", values)

    def accepts(self, value: Any) -> bool:
        return value in self.values

    def __str__(self) -> str:
        return "one of " + ", ".join(dict.fromkeys("none" if v is None else str(v) for v in self.values))


@dataclass(frozen=True)
class Search:
    """A tuning search space: numbers from ``low`` to ``high`` (ends included), on a log scale if ``log``;
    integers for an ``int`` option."""

    low: float
    high: float
    log: bool = False

    def contains(self, value: Any) -> bool:
        return Range(self.low, self.high).accepts(value)

    def problem(self, annotation: Any) -> str | None:
        """Why this space does not fit the option's declared type and values, or None."""
        if not self.low < self.high or (self.log and self.low <= 0):
            return f"needs low < high{' and low > 0 on a log scale' if self.log else ''}"
        bad = [v for v in (self.low, self.high) if check_value(v, annotation)]
        return f"end {bad[0]!r} is not a valid value ({describe_type(annotation)})" if bad else None

    def __str__(self) -> str:
        return f"[{_number(self.low)}, {_number(self.high)}]{' log' if self.log else ''}"


@dataclass(frozen=True)
class Choice:
    """A tuning search space: one of these values."""

    values: tuple[Any, ...]

    def __init__(self, *values: Any):
        object.__setattr__(self, "values", values)

    def contains(self, value: Any) -> bool:
        return value in self.values

    def problem(self, annotation: Any) -> str | None:
        if len(self.values) < 2:
            return "needs at least two values"
        bad = [v for v in self.values if check_value(v, annotation)]
        return f"value {bad[0]!r} is not valid ({describe_type(annotation)})" if bad else None

    def __str__(self) -> str:
        return "{" + ", ".join(map(str, self.values)) + "}"


Count = Annotated[int, Range(1)]
NonNegativeInt = Annotated[int, Range(0)]
PositiveFloat = Annotated[float, Range(0, low_open=True)]  # learning rates, temperatures
NonNegativeFloat = Annotated[float, Range(0)]  # weight decays
Probability = Annotated[float, Range(0, 1, high_open=True)]  # dropout and masking rates
Ratio = Annotated[float, Range(0, 1, low_open=True)]  # keep-ratios
Fraction = Annotated[float, Range(0, 1)]
Finite = Annotated[float, Range()]

SEED_RANGE = Range(0, 2**63 - 1)  # SQLite INTEGER, torch.manual_seed; NumPy takes the seed modulo 2**32

_TYPES = {int: "int", float: "float", str: "str", bool: "bool", list: "list", dict: "dict"}


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _type_ok(value: Any, base: Any) -> bool:
    if base is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    origin = typing.get_origin(base) or base
    return not isinstance(origin, type) or isinstance(value, origin)


def check_value(value: Any, annotation: Any) -> str | None:
    """Why ``value`` does not fit ``annotation`` (its type and declared constraints), or None."""
    if _is_union(annotation):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        fits = any(check_value(value, a) is None for a in args if a is not type(None))
        return None if fits else f"valid: {describe_type(annotation)}"
    if typing.get_origin(annotation) is Annotated:
        base, *constraints = typing.get_args(annotation)
        if any(hasattr(c, "accepts") and not c.accepts(value) for c in constraints):
            return f"valid: {describe_type(annotation)}"
        return check_value(value, base)
    if not _type_ok(value, annotation):
        return f"expected {describe_type(annotation)}"
    if annotation is int and not -2**63 <= value < 2**63:  # beyond what the store and torch take
        return "valid: a 64-bit int"
    if isinstance(value, float) and not math.isfinite(value):
        return f"valid: finite {describe_type(annotation)}"
    if typing.get_origin(annotation) is list and typing.get_args(annotation):
        element = typing.get_args(annotation)[0]
        return f"valid: {describe_type(annotation)}" if any(check_value(v, element) for v in value) else None
    return None


def describe_type(annotation: Any) -> str:
    """``Count | None`` → ``'int ≥ 1 or none'``."""
    if _is_union(annotation):
        return " or ".join("none" if a is type(None) else describe_type(a) for a in typing.get_args(annotation))
    if typing.get_origin(annotation) is Annotated:
        base, *constraints = typing.get_args(annotation)
        choices = [str(c) for c in constraints if isinstance(c, OneOf)]
        shown = [str(c) for c in constraints if hasattr(c, "accepts")]
        return choices[0] if choices else " ".join([describe_type(base), *shown])
    if typing.get_origin(annotation) is list and typing.get_args(annotation):
        return f"list of {describe_type(typing.get_args(annotation)[0])}"
    return _TYPES.get(annotation, getattr(annotation, "__name__", str(annotation)))


@dataclass(frozen=True)
class OptionSpec:
    """One option for display: its name, default and valid values (``'float > 0'``)."""

    name: str
    default: Any
    valid: str


@functools.lru_cache(maxsize=None)
def option_hints(options_cls: type) -> dict[str, Any]:
    """Each field's annotation, constraints kept (cached per class: resolving 100,000 cells reads it often)."""
    return typing.get_type_hints(options_cls, include_extras=True)


def defaults(options_cls: type) -> dict[str, Any]:
    """The default value of every option that has one."""
    return {f.name: f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            for f in dataclasses.fields(options_cls)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}


def describe_options(options_cls: type) -> list[OptionSpec]:
    """Every option of an ``Options`` dataclass with its default (``MISSING`` if none) and valid values."""
    hints, values = option_hints(options_cls), defaults(options_cls)
    return [OptionSpec(f.name, values.get(f.name, dataclasses.MISSING), describe_type(hints[f.name]))
            for f in dataclasses.fields(options_cls)]


def search_space(options_cls: type) -> dict[str, Search | Choice]:
    """The options that declare a tuning search space (``Search`` or ``Choice``), with it."""
    out = {}
    for name, hint in option_hints(options_cls).items():
        if typing.get_origin(hint) is Annotated:
            spaces = [c for c in typing.get_args(hint)[1:] if isinstance(c, (Search, Choice))]
            if spaces:
                out[name] = spaces[-1]
    return out


def base_type(annotation: Any) -> Any:
    """The type under the constraints: ``Annotated[int, Range(1)]`` → ``int``."""
    return typing.get_args(annotation)[0] if typing.get_origin(annotation) is Annotated else annotation
