"""Errors that the command line turns into one readable line and exit code 2."""

from __future__ import annotations

import difflib
import importlib
from types import ModuleType


class SlideBenchError(Exception):
    """A user-facing error: bad input, missing data, an unknown name, a failing plugin."""


class ConfigError(SlideBenchError):
    """An option, preset or spec that does not validate."""


class DataError(SlideBenchError):
    """A dataset that cannot be found, loaded or prepared."""


class StoreError(SlideBenchError):
    """A results store that cannot be opened, read or written (a folder, not SQLite, read-only, locked)."""


class PluginError(SlideBenchError):
    """A plugin that fails to load or registers something invalid."""


class MissingExtraError(ConfigError):
    """A feature whose packages are an optional extra of slide-bench that is not installed."""


def require_extra(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module``, or fail with one line naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(f"{feature} needs {module.split('.')[0]}, which is not installed: "
                                f"pip install 'slide-bench[{extra}]'") from None


class UnknownNameError(SlideBenchError, KeyError):
    """A name that no plugin registered."""

    def __init__(self, kind: str, name: str, known: list[str]):
        folded = {k.lower().replace("_", "-"): k for k in known}  # case-blind: 'citeseir' → 'CiteSeer'
        close = difflib.get_close_matches(name.lower().replace("_", "-"), list(folded), n=1, cutoff=0.6)
        hint = f" Did you mean '{folded[close[0]]}'?" if close else ""
        listing = ", ".join(known) if known else "(none registered)"
        self.kind, self.name, self.known = kind, name, known
        super().__init__(f"Unknown {kind} '{name}'.{hint} Known: {listing}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]
