"""What every head shares: the classifier, per-epoch evaluation with best-validation selection, and the
accounting of what fine-tuning spent (epochs, steps, samples, time, memory, parameters)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.utils import k_hop_subgraph

from registry.device import peak_memory_mb, reset_peak_memory, synchronize
from registry.metrics import BestValidation, count_parameters, f1_tensor
from slide_plugin.nn.sparse import select_rows, sparse_features


def make_classifier(in_dim: int, num_classes: int) -> nn.Linear:
    """A fresh linear classifier, Xavier-uniform weights and zero bias (as the official code)."""
    linear = nn.Linear(in_dim, num_classes)
    nn.init.xavier_uniform_(linear.weight)
    nn.init.zeros_(linear.bias)
    return linear


def check_budget_steps(budget_steps: int | None) -> None:
    """Options' validation of ``budget_steps``: None or at least one step."""
    if budget_steps is not None and budget_steps < 1:
        raise ValueError(f"budget_steps must be at least 1 (or None), got {budget_steps}")


def planned_epochs(epochs: int, budget_steps: int | None, batches_per_epoch: int) -> int:
    """``epochs``; with a step budget, as many epochs as ``budget_steps`` optimiser steps take at
    ``batches_per_epoch`` (the last one may stop early: see :attr:`FitTracker.budget_spent`)."""
    return epochs if budget_steps is None else math.ceil(budget_steps / max(batches_per_epoch, 1))


@dataclass
class FitTracker:
    """Collects epoch times, optimiser steps and samples seen, and keeps the best-validation scores.
    With ``budget_steps``, :attr:`budget_spent` says when the loop must stop taking steps."""

    device: torch.device
    num_classes: int
    budget_steps: int | None = None
    best: BestValidation = field(default_factory=BestValidation)
    epoch_times: list[float] = field(default_factory=list)
    steps: int = 0
    samples: int = 0
    _start: float = 0.0
    _splits: list[tuple[Tensor, Tensor]] = field(default_factory=list)  # (node index, labels) of val, test

    later_ties: bool = False

    def __post_init__(self) -> None:
        self.best.later_ties = self.later_ties
        reset_peak_memory(self.device)

    def start_epoch(self) -> None:
        synchronize(self.device)
        self._start = time.perf_counter()

    @property
    def budget_spent(self) -> bool:
        return self.budget_steps is not None and self.steps >= self.budget_steps

    def step(self, batch_size: int) -> None:
        self.steps += 1
        self.samples += batch_size

    def end_epoch(self) -> None:
        synchronize(self.device)
        self.epoch_times.append(time.perf_counter() - self._start)

    @torch.no_grad()
    def evaluate(self, epoch: int, logits: Tensor, data: Data) -> bool:
        """Score val and test; only validation decides whether this epoch is kept. The split indices and
        labels are moved to the logits' device once; per epoch only the four scores reach the host."""
        if not self._splits:
            y = data.y.to(logits.device)
            for mask in (data.val_mask, data.test_mask):
                index = mask.to(logits.device).nonzero().view(-1)
                self._splits.append((index, y[index]))
        scores = torch.cat([f1_tensor(logits[index], y, self.num_classes) for index, y in self._splits]).tolist()
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
    declares ``accepts_sparse_features`` (:func:`~slide_plugin.nn.sparse.sparse_features`), else ``x``."""
    return sparse_features(x) if getattr(encoder, "accepts_sparse_features", False) else x


def receptive_hops(encoder: nn.Module) -> int | None:
    """Hops of a batch's exact receptive field: one per message-passing block, plus the largest
    ``extra_hops`` of its blocks (1 for a block that does not declare it, such as a bare PyG conv:
    a degree-normalised layer needs its neighbours' full degrees); None (use the full graph) when
    the encoder does not expose its ``blocks``."""
    blocks = getattr(encoder, "blocks", None)
    if blocks is None:
        return None
    return len(blocks) + max((getattr(block, "extra_hops", 1) for block in blocks), default=0)


def batch_forward(encoder: nn.Module, x: Tensor, edge_index: Tensor, nodes: Tensor, hops: int | None,
                  max_fraction: float = 0.5) -> Tensor:
    """Embeddings ``[len(nodes), d]`` of ``nodes`` (features ``x`` dense or CSR), computed on their
    ``hops``-hop subgraph (the same rows as a full-graph forward), or on the full graph when ``hops`` is
    None, when the subgraph holds more than ``max_fraction`` of the nodes, or when a batch norm in
    training mode would take its statistics over the nodes it sees."""
    num_nodes = x.size(0)
    if hops is not None and not _batch_statistics(encoder):
        subset, sub_edges, mapping, _ = k_hop_subgraph(nodes, hops, edge_index, relabel_nodes=True,
                                                       num_nodes=num_nodes)
        if subset.numel() <= max_fraction * num_nodes:
            return encoder(select_rows(x, subset), sub_edges)[mapping]
    return encoder(x, edge_index)[nodes]


def _batch_statistics(encoder: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training for m in encoder.modules())
