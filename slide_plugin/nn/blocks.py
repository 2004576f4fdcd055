"""The block contract: one GNN layer (conv, norm, activation) that knows how to slice itself.

A block's output is made of ``heads × units`` neurons laid out head-major (GCN blocks have one
head). Slimming keeps a subset of the ``units`` (the same subset in every head) and hands the
kept flat output indices to the next block as its kept input columns.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import torch
from torch import Tensor, nn

BLOCKS: dict[str, type["Block"]] = {}


class Block(nn.Module):
    """Base class; subclasses set ``type_name`` (they are added to :data:`BLOCKS`) and keep their
    constructor arguments in ``self._arch`` (with ``units`` and, for multi-head blocks, ``heads``)."""

    type_name: str = ""
    _arch: dict[str, Any]
    #: hops beyond one per block that a node's exact output needs: GCN's degree normalisation reads
    #: the neighbours' degrees, one hop further out (1); attention over in-edges needs none (0)
    extra_hops: int = 0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.type_name:
            BLOCKS[cls.type_name] = cls

    @property
    def arch(self) -> dict[str, Any]:
        """JSON-serialisable constructor arguments (plus ``type``)."""
        return dict(self._arch)

    @property
    def units(self) -> int:
        """Output neurons per head: what slimming keeps a fraction of."""
        return self._arch["units"]

    @property
    def heads(self) -> int:
        return self._arch.get("heads", 1)

    @property
    def out_dim(self) -> int:
        return self.heads * self.units

    @property
    def weight(self) -> Tensor:
        """``[heads * units, in_dim]``: the input projection producing each output unit (head-major rows),
        what :class:`registry.slimming.LayerView` shows slimmers."""
        return self.conv.lin.weight

    @abstractmethod
    def forward(self, x: Tensor, edge_index: Tensor, rows: int | None = None) -> Tensor:
        """``[N, in_dim]`` → ``[N, heads * units]``; with ``rows``, only the first ``rows`` outputs are
        wanted (a receptive field's inner nodes, :mod:`registry.receptive`): a block may return
        just those and skip the work of the others."""

    @abstractmethod
    def sliced(self, in_keep: Tensor | None, unit_keep: Tensor) -> "Block":
        """A new block keeping input columns ``in_keep`` (None: all) and units ``unit_keep`` per head,
        with every affected tensor (weights, biases, norm vectors and running statistics, attention
        vectors) copied at the kept indices."""

    def out_index(self, unit_keep: Tensor) -> Tensor:
        """Flat output indices of the kept units: ``head * units + unit`` for every head."""
        offsets = torch.arange(self.heads, device=unit_keep.device) * self.units
        return (offsets[:, None] + unit_keep[None, :]).reshape(-1)


def build_block(arch: dict[str, Any]) -> Block:
    arch = dict(arch)
    return BLOCKS[arch.pop("type")](**arch)


def slice_norm(norm: nn.Module, keep: Tensor, new: nn.Module) -> None:
    """Copy a LayerNorm/BatchNorm's per-channel tensors (affine and running statistics) at ``keep``."""
    for name, tensor in list(norm.named_parameters(recurse=False)) + list(norm.named_buffers(recurse=False)):
        target = getattr(new, name)
        if tensor.dim() == 0:  # num_batches_tracked
            target.copy_(tensor)
        else:
            target.data.copy_(tensor.data[keep])


def make_norm(kind: str | None, dim: int) -> nn.Module:
    if kind in (None, "none"):
        return nn.Identity()
    if kind == "layernorm":
        return nn.LayerNorm(dim)
    if kind == "batchnorm":
        return nn.BatchNorm1d(dim)
    raise ValueError(f"unknown norm '{kind}' (none, layernorm, batchnorm)")


def make_activation(kind: str | None) -> nn.Module:
    table = {None: nn.Identity, "none": nn.Identity, "relu": nn.ReLU, "elu": nn.ELU, "prelu": nn.PReLU,
             "gelu": nn.GELU}
    if kind not in table:
        raise ValueError(f"unknown activation '{kind}' ({', '.join(k for k in table if k)})")
    return table[kind]()
