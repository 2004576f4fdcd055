"""The head toolkit: what a fine-tuning head needs besides its own loss, used by the built-in heads too.

- :func:`make_classifier`, :func:`adam`: the classifier and optimiser the built-ins use;
- :func:`embed`: every node's embedding from a frozen encoder, computed once;
- :func:`train_batches`: an epoch's training nodes, whole or in shuffled mini-batches;
- :class:`FitTracker`: per-epoch evaluation with best-validation selection, and the accounting the
  store keeps (``epochs``, ``steps``, ``samples_seen``, times, memory, parameters), with an optional
  exact step budget (:func:`planned_epochs`, :attr:`FitTracker.budget_spent`);
- :func:`model_features`, :func:`batch_forward`: a batch embedded on its receptive field, exactly the
  rows of a full-graph forward for a fraction of the work.

A minimal head (README, "Writing a plugin")::

    tracker = FitTracker(ctx.device, data.num_classes)
    for epoch in tracker.epochs(options.epochs, ctx):  # timed, in a progress bar
        for nodes in train_batches(train_mask, options.batch_size):
            tracker.optimise(loss_of(nodes), nodes.numel(), optimizer)  # zero_grad, backward, step, count
        tracker.evaluate(epoch, logits_of_all_nodes, data)  # ends the epoch's timing first
    return tracker.result([classifier, encoder])
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Iterator

import torch
from torch import Tensor, nn

from registry.config import check_budget_steps  # noqa: F401 (part of the toolkit; lives where options load without torch)
from registry.device import peak_memory_mb, reset_peak_memory, synchronize
from registry.metrics import BestValidation, count_parameters, f1_tensor
from registry.numerics import NonFiniteError
from registry.receptive import receptive_field
from registry.sparse import select_rows, sparse_features

if TYPE_CHECKING:
    from torch_geometric.data import Data

    from registry.components import RunContext


CLASSIFIER_INITS = ("xavier", "default")


def make_classifier(in_dim: int, num_classes: int, init: str = "xavier") -> nn.Linear:
    """A fresh linear classifier: Xavier-uniform weights and zero bias (``"xavier"``, the official GRACE
    and MaskGAE code), or PyTorch's own ``nn.Linear`` initialisation (``"default"``, the official GraphMAE code)."""
    if init not in CLASSIFIER_INITS:
        raise ValueError(f"classifier init must be one of {', '.join(CLASSIFIER_INITS)}, got {init!r}")
    linear = nn.Linear(in_dim, num_classes)
    if init == "xavier":
        nn.init.xavier_uniform_(linear.weight)
        nn.init.zeros_(linear.bias)
    return linear


def adam(params: Iterable[nn.Parameter], lr: float, weight_decay: float) -> torch.optim.Adam:
    """Adam for a head's parameters, fused into one kernel per step where torch has one (CPU and CUDA
    floating-point tensors: the same update, about 3× faster on CPU than the per-tensor loop)."""
    params = list(params)
    fused = bool(params) and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=fused or None)


@torch.no_grad()
def embed(encoder: nn.Module, data: Data, device: torch.device) -> Tensor:
    """Every node's embedding ``[N, d]`` from the frozen encoder in eval mode (a probe computes them once)."""
    encoder.eval()
    return encoder(data.x.to(device), data.edge_index.to(device))


def train_batches(train_mask: Tensor, batch_size: int | None) -> list[Tensor]:
    """The training node indices of one epoch: one batch, or shuffled mini-batches (global RNG)."""
    nodes = train_mask.nonzero().view(-1)
    if batch_size is None:
        return [nodes]
    return list(nodes[torch.randperm(nodes.numel(), device=nodes.device)].split(batch_size))


def planned_epochs(epochs: int, budget_steps: int | None, batches_per_epoch: int) -> int:
    """``epochs``; with a step budget, as many epochs as ``budget_steps`` optimiser steps take at
    ``batches_per_epoch`` (the last one may stop early: see :attr:`FitTracker.budget_spent`)."""
    return epochs if budget_steps is None else math.ceil(budget_steps / max(batches_per_epoch, 1))


@dataclass
class FitTracker:
    """Collects epoch times, optimiser steps and samples seen, and keeps the best-validation scores.
    With ``budget_steps``, :attr:`budget_spent` says when the loop must stop taking steps. A training
    loss given to :meth:`step`, or logits given to :meth:`evaluate`, that are NaN or infinite stop the
    run at that epoch (:class:`registry.numerics.NonFiniteError`), checked in the epoch's one transfer."""

    device: torch.device
    num_classes: int
    budget_steps: int | None = None
    best: BestValidation = field(default_factory=BestValidation)
    epoch_times: list[float] = field(default_factory=list)
    steps: int = 0
    samples: int = 0
    _start: float = 0.0
    _splits: list[tuple[Tensor, Tensor]] = field(default_factory=list)  # (node index, labels) of val, test
    _loss: Tensor | None = None  # the epoch's summed training loss, on the device
    _open: bool = False  # an epoch started and not yet ended

    later_ties: bool = False

    def __post_init__(self) -> None:
        self.best.later_ties = self.later_ties
        reset_peak_memory(self.device)

    def epochs(self, n: int, ctx: RunContext | None = None, desc: str = "fine-tune") -> Iterator[int]:
        """Epochs ``0..n-1`` (in ``ctx``'s progress bar), each timed from its start to :meth:`end_epoch`,
        to :meth:`evaluate` or to the end of the loop body, whichever comes first."""
        epochs = range(n) if ctx is None else ctx.progress(range(n), desc=desc, unit="epoch", leave=False)
        for epoch in epochs:
            self.start_epoch()
            yield epoch
            self.end_epoch()

    def optimise(self, loss: Tensor, batch_size: int, *optimizers: torch.optim.Optimizer) -> None:
        """One optimiser step on ``loss`` (zero the gradients, backward, step each optimiser), counted
        with :meth:`step`."""
        for optimizer in optimizers:
            optimizer.zero_grad()
        loss.backward()
        for optimizer in optimizers:
            optimizer.step()
        self.step(batch_size, loss)

    def start_epoch(self) -> None:
        synchronize(self.device)
        self._start = time.perf_counter()
        self._open = True

    @property
    def budget_spent(self) -> bool:
        return self.budget_steps is not None and self.steps >= self.budget_steps

    def step(self, batch_size: int, loss: Tensor | None = None) -> None:
        self.steps += 1
        self.samples += batch_size
        if loss is not None:
            loss = loss.detach().float().sum()
            self._loss = loss if self._loss is None else self._loss + loss

    def end_epoch(self) -> None:
        """Record the open epoch's time (once; a no-op when no epoch is open)."""
        if not self._open:
            return
        synchronize(self.device)
        self.epoch_times.append(time.perf_counter() - self._start)
        self._open = False

    @torch.no_grad()
    def evaluate(self, epoch: int, logits: Tensor, data: Data) -> bool:
        """Score val and test; only validation decides whether this epoch is kept. The split indices and
        labels are moved to the logits' device once; per epoch only the four scores reach the host. An
        epoch still open is ended first: evaluation time is not training time."""
        self.end_epoch()
        if not self._splits:
            y = data.y.to(logits.device)
            for mask in (data.val_mask, data.test_mask):
                index = mask.to(logits.device).nonzero().view(-1)
                self._splits.append((index, y[index]))
        loss = self._loss if self._loss is not None else logits.new_zeros(())  # on the logits' device
        finite = torch.isfinite(logits).all().float()
        scores = torch.cat([f1_tensor(logits[index], y, self.num_classes) for index, y in self._splits]
                           + [loss.view(1), finite.view(1)]).tolist()
        self._loss = None
        if not math.isfinite(scores[4]):
            raise NonFiniteError(f"training loss became {scores[4]} at epoch {epoch}")
        if not scores[5]:
            raise NonFiniteError(f"the model's outputs became non-finite at epoch {epoch}")
        val = {"micro_f1": scores[0], "macro_f1": scores[1]}
        test = {"micro_f1": scores[2], "macro_f1": scores[3]}
        return self.best.update(epoch, val, test)

    def result(self, trainable: list[nn.Module], frozen: list[nn.Module] = ()) -> dict[str, float]:
        times = sorted(self.epoch_times)
        return self.best.result() | {
            "trainable_params": count_parameters(*trainable, trainable_only=True),
            "total_params": count_parameters(*trainable, *frozen),
            "epochs": len(self.epoch_times),
            "steps": self.steps,
            "samples_seen": self.samples,
            "epoch_time_s": times[len(times) // 2] if times else 0.0,
            "finetune_time_s": sum(self.epoch_times),
            "peak_memory_mb": peak_memory_mb(self.device),
        }


def model_features(encoder: nn.Module, x: Tensor) -> Tensor:
    """The node features as the encoder takes them fastest: CSR when they are sparse and the encoder
    declares ``accepts_sparse_features`` (:func:`registry.sparse.sparse_features`), else ``x``."""
    return sparse_features(x) if getattr(encoder, "accepts_sparse_features", False) else x


def batch_forward(encoder: nn.Module, x: Tensor, edge_index: Tensor, nodes: Tensor) -> Tensor:
    """Embeddings ``[len(nodes), d]`` of the distinct ``nodes`` (features ``x`` dense or CSR), equal to the
    rows of a full-graph forward, computed on their receptive field (:mod:`registry.receptive`)
    when the encoder exposes its ``blocks`` (a block that does not declare ``extra_hops``, such as a bare
    PyG conv, counts one: a degree-normalised layer reads its neighbours' full degrees): layer by layer
    when it has ``forward_field(x, field)`` (taking a :class:`registry.receptive.ReceptiveField`), else as one subgraph. The
    full graph when it has no ``blocks`` or a batch norm in training mode would take its statistics over
    the nodes it sees."""
    blocks = getattr(encoder, "blocks", None)
    if blocks is None or _batch_statistics(encoder):
        return encoder(x, edge_index)[nodes]
    local = receptive_field(nodes, edge_index, x.size(0), [getattr(block, "extra_hops", 1) for block in blocks])
    rows = select_rows(x, local.nodes)
    if hasattr(encoder, "forward_field"):
        return encoder.forward_field(rows, local)
    return encoder(rows, local.layer_edges[0])[: local.batch_size]


def _batch_statistics(encoder: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training for m in encoder.modules())
