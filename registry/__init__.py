"""slide-bench's generic benchmark core: hooks, registry, datasets, metrics, runner, store, tables.

It knows nothing of any particular method; plugins (such as ``slide_plugin``) fill it.
"""

from registry.components import DatasetSpec, Head, NoOptions, Pretrainer, RunContext, Slimmer
from registry.hookspecs import hookimpl

__all__ = ["DatasetSpec", "Head", "NoOptions", "Pretrainer", "RunContext", "Slimmer", "hookimpl"]
__version__ = "0.1.0"
