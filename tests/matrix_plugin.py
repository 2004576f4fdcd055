"""A third-party-style plugin for the matrix tests: a tiny dataset, a slimming strategy, and heads
that fail, run out of memory, kill their process, or take a known time. Loaded in-process with
``pm.register`` and in subprocesses through a fake distribution's ``slide_bench`` entry point."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

import torch
from torch_geometric.data import Data

from registry import DatasetSpec, Head, hookimpl
from slide_plugin.heads.linear import LinearOptions, LinearProbe
from slide_plugin.slimming import RatioSlimmer


def load_toy(root, split_seed: int = 0) -> Data:
    """120 nodes, 3 classes, 16 features carrying the class, edges mostly within a class."""
    g = torch.Generator().manual_seed(0)
    n, classes = 120, 3
    y = torch.arange(n) % classes
    x = torch.randn(n, 16, generator=g) + 2.0 * torch.nn.functional.one_hot(y, 16).float()
    src = torch.randint(0, n, (600,), generator=g)
    dst = torch.where(torch.rand(600, generator=g) < 0.8, (src + classes * torch.randint(1, 5, (600,), generator=g)) % n,
                      torch.randint(0, n, (600,), generator=g))
    edge_index = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], dim=1)
    masks = [torch.zeros(n, dtype=torch.bool) for _ in range(3)]
    masks[0][:30], masks[1][30:60], masks[2][60:] = True, True, True
    data = Data(x=x, edge_index=edge_index, y=y, train_mask=masks[0], val_mask=masks[1], test_mask=masks[2])
    data.num_classes = classes
    return data


@dataclass
class FaultOptions:
    epochs: int = 1
    error: str = "cuda"  # oom head: "cuda" raises torch.cuda.OutOfMemoryError, "cpu" MemoryError


class Boom(Head):
    name = "boom"
    description = "always raises"
    Options = FaultOptions

    def fit(self, encoder, data, options, ctx):
        raise RuntimeError("boom: deliberate failure")


class OutOfMemory(Head):
    name = "oom"
    description = "always runs out of memory"
    Options = FaultOptions

    def fit(self, encoder, data, options, ctx):
        if options.error == "cuda":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        raise MemoryError()


@dataclass
class SleepyOptions(LinearOptions):
    seconds: float = 0.0
    log: str = ""  # a file that gets one line per fit: which cell ran, in which process


class Sleepy(LinearProbe):
    name = "sleepy"
    description = "a linear probe that first sleeps: cells of a known minimum length"
    Options = SleepyOptions
    overrides = {}

    def fit(self, encoder, data, options, ctx):
        if options.log:
            with open(options.log, "a") as log:
                log.write(f"{ctx.seed} {sum(p.numel() for p in encoder.parameters())} {os.getpid()}\n")
        ctx.log(niceness=os.nice(0))  # the priority the executor ran the cell at
        time.sleep(options.seconds)
        return super().fit(encoder, data, options, ctx)


class Die(Head):
    name = "die"
    description = "kills its own process: a worker that dies mid-cell"
    Options = FaultOptions

    def fit(self, encoder, data, options, ctx):
        os.kill(os.getpid(), signal.SIGKILL)


@hookimpl
def register_datasets(register):
    register(DatasetSpec("toy", load_toy, "120-node toy graph"))


@hookimpl
def register_slimmers(register):
    register(RatioSlimmer("plugin-slim", [0.5], 1, "a third-party strategy: first layer, half width"))


@hookimpl
def register_heads(register):
    for head in (Boom(), OutOfMemory(), Sleepy(), Die()):
        register(head)
