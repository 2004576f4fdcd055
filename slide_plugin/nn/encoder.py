"""An encoder made of a stack of slimmable blocks, with the registry's encoder contract."""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from registry.receptive import ReceptiveField
from registry.slimming import LayerView
from slide_plugin.nn.blocks import Block, build_block


class StackEncoder(nn.Module):
    r"""A :class:`registry.slimming.SlimmableEncoder`: blocks applied in sequence; the embedding is the last block's output (``readout="last"``)
    or the concatenation of every block's output (``readout="cat"``, as MaskGAE), optionally
    L2-normalised per node.

    ``pooling`` (``"sum"``, ``"mean"``, ``"max"`` or None) names the readout that turns node embeddings into
    graph embeddings for graph classification (:func:`registry.graphs.pool`); the encoder itself stays
    node-level.

    ``share_activation`` makes every block use the first block's activation module (GRACE applies
    one PReLU, one learnable slope, after every layer). ``cap_truncated_output`` is MaskGAE's rule for
    slimmers that name a number of kept layers ("2-X"): the last kept block keeps
    ``min(ratio × the original output width, the first block's width)`` units, as the official
    ``GNNEncoder(in, e, min(hd / k, e), num_layers=2)``; see :meth:`kept_units`.

    Shapes: ``x [N, in_dim]`` (dense, or CSR: see :mod:`registry.sparse`), ``edge_index [2, E]``
    → ``[N, embedding_dim]``.
    """

    accepts_sparse_features = True  # every block handles a CSR input

    def __init__(self, blocks: Sequence[Block], readout: str = "last", l2_normalize: bool = False,
                 share_activation: bool = False, cap_truncated_output: bool = False, pooling: str | None = None):
        super().__init__()
        if readout not in ("last", "cat"):
            raise ValueError(f"readout must be 'last' or 'cat', got '{readout}'")
        self.blocks = nn.ModuleList(blocks)
        self.readout, self.l2_normalize = readout, l2_normalize
        self.share_activation, self.cap_truncated_output = share_activation, cap_truncated_output
        self.pooling = pooling
        if share_activation:
            for block in self.blocks[1:]:
                block.activation = self.blocks[0].activation

    @classmethod
    def from_arch(cls, arch: dict[str, Any]) -> "StackEncoder":
        return cls([build_block(b) for b in arch["blocks"]], arch.get("readout", "last"), arch.get("l2_normalize", False),
                   arch.get("share_activation", False), arch.get("cap_truncated_output", False), arch.get("pooling"))

    @property
    def arch(self) -> dict[str, Any]:
        arch = {"blocks": [b.arch for b in self.blocks], "readout": self.readout, "l2_normalize": self.l2_normalize,
                "share_activation": self.share_activation, "cap_truncated_output": self.cap_truncated_output}
        if self.pooling is not None:  # only graph-level encoders: node encoders' arch (and cache keys) unchanged
            arch["pooling"] = self.pooling
        return arch

    @property
    def embedding_dim(self) -> int:
        dims = [b.out_dim for b in self.blocks]
        return dims[-1] if self.readout == "last" else sum(dims)

    def layer_outputs(self, x: Tensor, edge_index: Tensor) -> list[Tensor]:
        """Every block's output, first to last."""
        return self._outputs(x, [(edge_index, None)] * len(self.blocks))

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self._readout(self.layer_outputs(x, edge_index))

    def forward_field(self, x: Tensor, field: ReceptiveField) -> Tensor:
        """Embeddings ``[field.batch_size, embedding_dim]`` of a batch from the rows ``x`` of its
        receptive ``field.nodes``: each block reads only its layer's edges and keeps only the rows the next
        one reads (:mod:`registry.receptive`); equal to the batch's rows of :meth:`forward`."""
        outputs = self._outputs(x, list(zip(field.layer_edges, field.layer_rows)))
        return self._readout([h[: field.batch_size] for h in outputs])

    def _outputs(self, x: Tensor, layers: list[tuple[Tensor, int | None]]) -> list[Tensor]:
        outputs = []
        for block, (edge_index, rows) in zip(self.blocks, layers):
            x = block(x, edge_index, rows)[:rows]
            outputs.append(x)
        return outputs

    def _readout(self, outputs: list[Tensor]) -> Tensor:
        z = outputs[-1] if self.readout == "last" else torch.cat(outputs, dim=-1)
        return F.normalize(z, dim=-1) if self.l2_normalize else z

    def layer_views(self) -> list[LayerView]:
        """:class:`registry.slimming.SlimmableEncoder`: one view per block."""
        return [LayerView(block.units, block.heads, block.weight) for block in self.blocks]

    def kept_units(self, index: int, ratio: float, layers: int | None = None) -> int:
        """Units block ``index`` keeps at keep-ratio ``ratio``; ``layers`` is the number of first blocks a
        slimmer keeps (None: it keeps all and only narrows them)."""
        if self.cap_truncated_output and layers is not None and index == layers - 1 and index > 0:
            return max(1, min(round(self.blocks[-1].units * ratio), self.blocks[0].units))
        return max(1, round(self.blocks[index].units * ratio))

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
        return StackEncoder(blocks, self.readout, self.l2_normalize, self.share_activation, self.cap_truncated_output,
                            self.pooling)
