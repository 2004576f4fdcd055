"""An encoder made of a stack of slimmable blocks, with the registry's encoder contract."""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from slide_plugin.nn.blocks import Block, build_block


class StackEncoder(nn.Module):
    r"""Blocks applied in sequence; the embedding is the last block's output (``readout="last"``)
    or the concatenation of every block's output (``readout="cat"``, as MaskGAE), optionally
    L2-normalised per node.

    Shapes: ``x [N, in_dim]``, ``edge_index [2, E]`` → ``[N, embedding_dim]``.
    """

    def __init__(self, blocks: Sequence[Block], readout: str = "last", l2_normalize: bool = False):
        super().__init__()
        if readout not in ("last", "cat"):
            raise ValueError(f"readout must be 'last' or 'cat', got '{readout}'")
        self.blocks = nn.ModuleList(blocks)
        self.readout, self.l2_normalize = readout, l2_normalize

    @classmethod
    def from_arch(cls, arch: dict[str, Any]) -> "StackEncoder":
        return cls([build_block(b) for b in arch["blocks"]], arch.get("readout", "last"), arch.get("l2_normalize", False))

    @property
    def arch(self) -> dict[str, Any]:
        return {"blocks": [b.arch for b in self.blocks], "readout": self.readout, "l2_normalize": self.l2_normalize}

    @property
    def embedding_dim(self) -> int:
        dims = [b.out_dim for b in self.blocks]
        return dims[-1] if self.readout == "last" else sum(dims)

    def layer_outputs(self, x: Tensor, edge_index: Tensor) -> list[Tensor]:
        """Every block's output, first to last."""
        outputs = []
        for block in self.blocks:
            x = block(x, edge_index)
            outputs.append(x)
        return outputs

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        outputs = self.layer_outputs(x, edge_index)
        z = outputs[-1] if self.readout == "last" else torch.cat(outputs, dim=-1)
        return F.normalize(z, dim=-1) if self.l2_normalize else z

    def slimmed(self, unit_keeps: Sequence[Tensor]) -> "StackEncoder":
        """A smaller copy keeping the first ``len(unit_keeps)`` blocks and, in block ``i``, the units
        ``unit_keeps[i]`` of every head; the next block keeps the matching input columns."""
        if not 1 <= len(unit_keeps) <= len(self.blocks):
            raise ValueError(f"can keep 1..{len(self.blocks)} layers, got {len(unit_keeps)}")
        in_keep: Tensor | None = None
        blocks = []
        for block, keep in zip(self.blocks, unit_keeps):
            blocks.append(block.sliced(in_keep, keep))
            in_keep = block.out_index(keep)
        return StackEncoder(blocks, self.readout, self.l2_normalize)
