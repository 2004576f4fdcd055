"""``ray``: cells as Ray tasks, on a running cluster (``--ray-address``) or on a local instance.

Each task asks for ``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs (fractions share a GPU among
small runs); Ray queues the rest. Workers must see the store and the encoder cache at the same
paths (a shared filesystem on a multi-node cluster). Ray is imported only when this opens.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import socket
from dataclasses import dataclass
from typing import Any

from registry.errors import ConfigError
from registry.executors.base import Backend, Event, Executor, Outcome, Task, WorkerContext, check_worker_plugins, require
from registry.executors.worker import run_task

FORWARDED_ENV = ("PYTHONPATH", "SLIDE_BENCH_LOAD_PLUGINS", "SLIDE_BENCH_DISABLE_PLUGINS", "SLIDE_BENCH_PLUGINS_DIR",
                 "SLIDE_BENCH_STRICT_PLUGINS", "SLIDE_BENCH_CACHE", "SLIDE_DATA_ROOT")


@dataclass
class RayOptions:
    address: str = ""          # a running cluster ("auto", "ray://host:10001", "host:6379"); "": a local instance
    workers: int = 0           # local instance: CPUs it gets (0: all of this machine's)
    cpus_per_run: float = 1.0
    gpus_per_run: float = 0.0  # e.g. 0.25: four small runs share a GPU

    def __post_init__(self) -> None:
        if self.workers < 0 or self.cpus_per_run <= 0 or self.gpus_per_run < 0:
            raise ValueError("workers >= 0, cpus_per_run > 0 and gpus_per_run >= 0 are required")


def _ray_task(task: Task, context: WorkerContext) -> Outcome:
    import ray

    worker = f"ray:{ray.util.get_node_ip_address()}:{os.getpid()}"
    return run_task(task, context, worker)


def _check_reachable(address: str) -> None:
    """A cluster address (``host:port`` or ``ray://host:port``) that nothing answers on is one line at
    once, instead of Ray's minutes of retries."""
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"ray: no cluster answers at --ray-address {address} "
                          f"({getattr(exc, 'strerror', None) or exc})") from None


class RayBackend:
    def __init__(self, options: RayOptions, context: WorkerContext):
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        # A local instance's workers run at Ray's default niceness (+15), so next to any other work on the
        # machine the cells barely get a CPU: keep them at the driver's priority. A running cluster keeps its own.
        os.environ.setdefault("RAY_worker_niceness", "0")
        self.ray = ray = require("ray", "ray")
        env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
        local = {} if options.address else {"num_cpus": options.workers or None}
        if options.address and options.address != "auto":
            _check_reachable(options.address)
        ray.init(address=options.address or None, include_dashboard=False, logging_level=logging.WARNING,
                 runtime_env={"env_vars": env}, **local)
        threads = context.threads or max(1, math.floor(options.cpus_per_run))
        self.context = dataclasses.replace(context, threads=threads)
        self.remote = ray.remote(_ray_task).options(num_cpus=options.cpus_per_run, num_gpus=options.gpus_per_run,
                                                     max_retries=0)
        self.refs: dict[Any, Task] = {}

    def capacity(self) -> int:
        return 1 << 20  # Ray queues tasks until their resources are free

    def submit(self, tasks: list[Task]) -> None:
        for task in tasks:
            self.refs[self.remote.remote(task, self.context)] = task

    def poll(self, timeout: float) -> list[Event]:
        if not self.refs:
            return []
        ready, _ = self.ray.wait(list(self.refs), num_returns=1, timeout=timeout)
        if ready:
            ready, _ = self.ray.wait(list(self.refs), num_returns=len(self.refs), timeout=0)
        events = []
        for ref in ready:
            task = self.refs.pop(ref)
            try:
                events.append(Event(task, self.ray.get(ref)))
            except self.ray.exceptions.RayError as exc:
                events.append(Event(task, lost=f"{type(exc).__name__}: {str(exc)[:2000]}"))
        return events

    def cancel(self) -> None:
        for ref in self.refs:
            self.ray.cancel(ref, force=True)
        self.ray.shutdown()

    def close(self) -> None:
        self.ray.shutdown()


class Ray(Executor):
    name = "ray"
    description = "cells as Ray tasks on a cluster (--ray-address) or a local instance; pip install 'slide-bench[ray]'"
    Options = RayOptions

    def open(self, options: RayOptions, context: WorkerContext) -> Backend:
        check_worker_plugins(context)
        return RayBackend(options, context)
