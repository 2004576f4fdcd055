"""slide-bench's generic benchmark core: hooks, registry, datasets, metrics, runner, store, tables.

It knows nothing of any particular method; plugins (such as ``slide_plugin``) fill it.
Options declare their valid values with ``typing.Annotated`` and the constraints below
(:class:`Range`, :class:`OneOf`, aliases such as :data:`Count`); :func:`describe_options` lists them
for display, and :func:`check_value` tells why a value does not fit (see :mod:`registry.options`).
"""

from registry.components import DatasetSpec, Head, NoOptions, Pretrainer, RunContext, Slimmer
from registry.hookspecs import hookimpl
from registry.options import (Count, Finite, Fraction, NonNegativeFloat, NonNegativeInt, OneOf, OptionSpec,
                              PositiveFloat, Probability, Range, Ratio, check_value, describe_options)

__all__ = ["Count", "DatasetSpec", "Finite", "Fraction", "Head", "NoOptions", "NonNegativeFloat", "NonNegativeInt",
           "OneOf", "OptionSpec", "PositiveFloat", "Pretrainer", "Probability", "Range", "Ratio", "RunContext",
           "Slimmer", "check_value", "describe_options", "hookimpl"]
__version__ = "0.1.0"
