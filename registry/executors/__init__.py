"""The built-in executors — ``local``, ``pool``, ``ray``, ``slurm`` — registered through the same
``register_executors`` hook a third-party executor uses. Ray and submitit are imported only when
their executor opens."""

from __future__ import annotations

from typing import Callable

from registry.executors.base import Executor
from registry.hookspecs import hookimpl


@hookimpl
def register_executors(register: Callable[[Executor], None]) -> None:
    from registry.executors.local import Local
    from registry.executors.pool import Pool
    from registry.executors.raycluster import Ray
    from registry.executors.slurm import Slurm

    for executor in (Local(), Pool(), Ray(), Slurm()):
        register(executor)
