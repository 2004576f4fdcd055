"""``slurm``: cells as SLURM jobs through submitit, submitted as job arrays.

Resources per job (partition, time, CPUs, GPUs, memory, extra ``sbatch`` flags) come from the
executor's options. A job runs ``cells_per_job`` cells one after another (job arrays of chunks):
a job costs seconds to schedule and start, which short cells should share. Every job runs ``run_task`` with the submitting environment (``sbatch``
exports it), so the store and the encoder cache must be on a filesystem the nodes share. Each
matrix uses a fresh submitit folder (job ids restart when a test cluster's state is wiped). A job
that leaves the queue without a result (killed, out of time) is reported lost.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry.executors.base import Backend, Event, Executor, Outcome, Task, WorkerContext, check_worker_plugins, require
from registry.executors.worker import run_task

QUEUE_CHECK_S = 2.0


@dataclass
class SlurmOptions:
    partition: str = ""          # "": the cluster's default partition
    time: int = 60               # minutes per cell (a job of k cells gets k times as long)
    cpus_per_run: int = 1
    gpus_per_run: int = 0
    mem_gb: float = 0.0          # 0: the partition's default
    array_parallelism: int = 256  # jobs of one array running at once
    sbatch: dict[str, Any] = field(default_factory=dict)  # extra flags, e.g. {"account": "lab", "qos": "high"}
    folder: str = ""             # submitit logs and results (default: <cache>/slurm); a fresh sub-folder per matrix
    cells_per_job: int = 1       # cells one job runs in turn; more share a job's start-up among short cells

    def __post_init__(self) -> None:
        if self.time < 1 or self.cpus_per_run < 1 or self.gpus_per_run < 0 or self.mem_gb < 0 or self.cells_per_job < 1:
            raise ValueError("time >= 1, cpus_per_run >= 1, gpus_per_run >= 0, mem_gb >= 0 and cells_per_job >= 1 "
                             "are required")


def _slurm_chunk(tasks: list[Task], context: WorkerContext) -> list[Outcome]:
    job = os.environ.get("SLURM_ARRAY_JOB_ID")
    job = f"{job}_{os.environ.get('SLURM_ARRAY_TASK_ID')}" if job else os.environ.get("SLURM_JOB_ID", "?")
    return [run_task(task, context, f"slurm:{job}") for task in tasks]


class SlurmBackend:
    def __init__(self, options: SlurmOptions, context: WorkerContext):
        submitit = require("submitit", "slurm")
        root = Path(options.folder) if options.folder else Path(context.cache).parent / "slurm"
        folder = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        self.executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=0)
        params: dict[str, Any] = dict(time=options.time * options.cells_per_job, cpus_per_task=options.cpus_per_run, job_name="slide-bench",
                                      array_parallelism=options.array_parallelism, additional_parameters=options.sbatch)
        if options.partition:
            params["partition"] = options.partition
        if options.gpus_per_run:
            params["gpus_per_node"] = options.gpus_per_run
        if options.mem_gb:
            params["mem"] = f"{options.mem_gb:g}GB"
        self.executor.update_parameters(**params)
        self.context = dataclasses.replace(context, threads=context.threads or options.cpus_per_run)
        self.cells_per_job = options.cells_per_job
        self.jobs: dict[Any, list[Task]] = {}
        self.checked = 0.0

    def capacity(self) -> int:
        return 1 << 20  # SLURM queues the jobs

    def submit(self, tasks: list[Task]) -> None:
        chunks = [tasks[i:i + self.cells_per_job] for i in range(0, len(tasks), self.cells_per_job)]
        with self.executor.batch():  # one job array
            jobs = [self.executor.submit(_slurm_chunk, chunk, self.context) for chunk in chunks]
        self.jobs.update(zip(jobs, chunks))

    def _queued(self) -> set[str]:
        out = subprocess.run(["squeue", "-h", "-r", "-o", "%i"], capture_output=True, text=True, check=True).stdout
        return set(out.split())

    def poll(self, timeout: float) -> list[Event]:
        deadline = time.monotonic() + timeout
        while True:
            over = [job for job in self.jobs if job.paths.result_pickle.exists()]
            if not over and time.monotonic() - self.checked > QUEUE_CHECK_S:
                self.checked = time.monotonic()
                queued = self._queued()
                over = [job for job in self.jobs if job.job_id not in queued]
            if over or time.monotonic() >= deadline:
                break
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        events = []
        for job in over:
            chunk = self.jobs.pop(job)
            try:
                events.extend(Event(task, outcome) for task, outcome in zip(chunk, job.result(), strict=True))
            except Exception as exc:  # the job failed outside its cells (killed, out of time, no result): the
                lost = f"SLURM job {job.job_id}: {type(exc).__name__}: {str(exc)[-2000:]}"  # driver reruns them,
                events.extend(Event(task, lost=lost) for task in chunk)  # finished ones come back done
        return events

    def cancel(self) -> None:
        for job in self.jobs:
            job.cancel(check=False)

    def close(self) -> None:
        pass


class Slurm(Executor):
    name = "slurm"
    description = "cells as SLURM jobs (job arrays) through submitit; pip install 'slide-bench[slurm]'"
    Options = SlurmOptions

    def open(self, options: SlurmOptions, context: WorkerContext) -> Backend:
        check_worker_plugins(context)
        return SlurmBackend(options, context)
