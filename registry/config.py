"""Option resolution: typed defaults → per-dataset overrides → preset → ``--set`` values.

``--set`` values are written ``section.option=value`` with section ``pretrain``, ``slim`` or
``head``; values are parsed to the option's declared type (``bool``: true/false/1/0; lists and
dicts as JSON). Every value, whatever its layer, is then checked against its declared type and valid
values (:mod:`registry.options`) before the ``Options`` instance is built.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Annotated, Any, Iterable

from registry.components import Component
from registry.errors import ConfigError
from registry.options import check_value, defaults, option_hints
from registry.registry import normalize

SECTIONS = {"pretrain": "pretrainer", "slim": "slimmer", "head": "head"}
PRESETS = ("official", "quick")


def parse_sets(items: Iterable[str]) -> dict[str, dict[str, str]]:
    """``["pretrain.epochs=5", "head.lr=0.1"]`` → ``{"pretrain": {"epochs": "5"}, "head": {"lr": "0.1"}}``."""
    out: dict[str, dict[str, str]] = {s: {} for s in SECTIONS}
    for item in items:
        key, sep, value = item.partition("=")
        section, dot, option = key.strip().partition(".")
        if not sep or not dot or not option:
            raise ConfigError(f"--set expects section.option=value, got '{item}'")
        if section not in SECTIONS:
            raise ConfigError(f"--set section '{section}' is not one of {', '.join(SECTIONS)}")
        out[section][option] = value.strip()
    return out


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    if not isinstance(value, str):
        return value
    if typing.get_origin(annotation) is Annotated:
        return _coerce(value, typing.get_args(annotation)[0], where)
    origin = typing.get_origin(annotation)
    if annotation is bool:
        low = value.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where} expects true/false, got {value!r}")
    if annotation in (int, float):
        try:
            return annotation(value)
        except ValueError:
            raise ConfigError(f"{where} expects {annotation.__name__}, got {value!r}") from None
    if annotation is str:
        return value
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value.lower() in ("none", "null"):
            return None
        return _coerce(value, args[0], where)
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        raise ConfigError(f"{where} expects a JSON value, got {value!r}") from None
    return [parsed] if origin is list and not isinstance(parsed, list) else parsed  # ratios=0.5 → [0.5]


def check_budget_steps(budget_steps: int | None) -> None:
    """Options' validation of ``budget_steps``: None or at least one step."""
    if budget_steps is not None and budget_steps < 1:
        raise ValueError(f"budget_steps must be at least 1 (or None), got {budget_steps}")


def overrides_for(component: Component, dataset: str, pretrainer: str,
                  supplied: dict[str, dict[str, Any]] | None = None, slimmer: str = "") -> dict[str, Any]:
    """Official per-dataset defaults, the component's own and those other plugins ``supplied``
    (``register_defaults``); ``pretrainer/dataset/slimmer`` keys win over ``pretrainer/dataset`` keys,
    which win over ``dataset`` keys."""
    by_key = {normalize(k): dict(v) for k, v in component.overrides.items()}
    for key, values in (supplied or {}).items():
        by_key.setdefault(normalize(key), {}).update(values)
    merged = dict(by_key.get(normalize(dataset), {}))
    merged.update(by_key.get(normalize(f"{pretrainer}/{dataset}"), {}))
    if slimmer:
        merged.update(by_key.get(normalize(f"{pretrainer}/{dataset}/{slimmer}"), {}))
    return merged


def resolve_options(
    component: Component,
    dataset: str,
    pretrainer: str,
    preset: str = "official",
    sets: dict[str, Any] | None = None,
    supplied: dict[str, dict[str, Any]] | None = None,
    slimmer: str = "",
    origins: dict[str, str] | None = None,
) -> Any:
    """The component's ``Options`` instance for this run; unknown or ill-typed values raise ConfigError.
    ``supplied``: defaults other plugins registered for it (:meth:`registry.registry.Registry.supplied_overrides`);
    ``slimmer``: the run's slimmer, for ``pretrainer/dataset/slimmer`` overrides; ``origins``: where each
    of ``sets`` came from, as the user wrote it (``--workers``, a spec's table), named in the errors
    about it (default ``--set``)."""
    origins = origins or {}
    if preset not in PRESETS:
        raise ConfigError(f"Unknown preset '{preset}'. Known: {', '.join(PRESETS)}")
    fields = {f.name: f for f in dataclasses.fields(component.Options)}
    hints = option_hints(component.Options)
    values: dict[str, Any] = {}
    layers = [("official config", overrides_for(component, dataset, pretrainer, supplied, slimmer))]
    if preset == "quick":
        layers.append(("quick preset", component.quick))
    layers.append(("--set", sets or {}))
    named = {key: f" ({origins[key]})" if key in origins else "" for key in sets or {}}
    for where, layer in layers:
        for key, value in layer.items():
            origin = origins.get(key, where) if where == "--set" else where
            if key not in fields:
                known = ", ".join(fields) or "(none)"
                raise ConfigError(f"{component.kind} '{component.name}' has no option '{key}' ({origin}). Options: {known}")
            values[key] = _coerce(value, hints[key], f"{component.kind} '{component.name}' option '{key}'{named.get(key, '')}")
    for key, value in {**defaults(component.Options), **values}.items():
        problem = check_value(value, hints[key])
        if problem:
            raise ConfigError(f"{component.kind} '{component.name}' option '{key}'{named.get(key, '')} = {value!r} "
                              f"is invalid ({problem})")
    try:
        return component.Options(**values)
    except (TypeError, ValueError, ArithmeticError) as exc:
        given = ", ".join(f"{k}={v!r} from {origins[k]}" for k, v in (sets or {}).items() if k in origins)
        raise ConfigError(f"{component.kind} '{component.name}': {exc}" + (f" (given: {given})" if given else "")) from None


def options_dict(options: Any) -> dict[str, Any]:
    return dataclasses.asdict(options)
