"""MaskGAE's MLP decoders and the link predictor: a slimmable encoder with its edge decoder."""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from registry.slimming import LayerView
from slide_plugin.nn.encoder import StackEncoder


class MLPDecoder(nn.Module):
    """``layers`` linear layers ``in → hidden → … → 1`` with ReLU between them; the edge decoder
    applies dropout before each hidden layer, the degree decoder after it and a final ReLU."""

    def __init__(self, in_dim: int, hidden: int, layers: int, dropout: float, degree_head: bool):
        super().__init__()
        dims = [in_dim] + [hidden] * (layers - 1) + [1]
        self.mlps = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.dropout = nn.Dropout(dropout)
        self.degree_head = degree_head
        self.arch = dict(in_dim=in_dim, hidden=hidden, layers=layers, dropout=dropout, degree_head=degree_head)

    def forward(self, x: Tensor) -> Tensor:
        for mlp in self.mlps[:-1]:
            x = F.relu(self.dropout(mlp(x))) if self.degree_head else F.relu(mlp(self.dropout(x)))
        x = self.mlps[-1](x)
        return F.relu(x) if self.degree_head else x

    @torch.no_grad()
    def sliced_input(self, in_keep: Tensor) -> "MLPDecoder":
        """A copy reading only the input features ``in_keep`` (the first layer's columns; the rest unchanged)."""
        new = MLPDecoder(**(self.arch | {"in_dim": len(in_keep)})).to(self.mlps[0].weight.device)
        new.load_state_dict({k: v[:, in_keep] if k == "mlps.0.weight" else v for k, v in self.state_dict().items()})
        return new


class LinkPredictor(nn.Module):
    """A :class:`StackEncoder` and an MLP edge decoder scoring ``z_u ⊙ z_v`` of the encoder's output.

    The encoder contract (``forward`` gives node embeddings, ``embedding_dim``, ``arch``) and the slimming
    contract are the encoder's: slimming narrows the encoder's layers and the decoder's first layer
    reads the kept output units; the decoder's hidden width is kept (as MaskGAE's ``train_linkpred.py``
    half model in the SLIDE code, paper.md §2.4). :meth:`edge_logits` scores edges ``[2, k]``.
    """

    def __init__(self, encoder: StackEncoder, decoder: MLPDecoder):
        super().__init__()
        if encoder.readout != "last":
            raise ValueError("the edge decoder reads the encoder's last layer: readout must be 'last'")
        self.encoder, self.decoder = encoder, decoder

    @classmethod
    def from_arch(cls, arch: dict[str, Any]) -> "LinkPredictor":
        return cls(StackEncoder.from_arch(arch["encoder"]), MLPDecoder(**arch["decoder"]))

    @property
    def arch(self) -> dict[str, Any]:
        return {"encoder": self.encoder.arch, "decoder": self.decoder.arch}

    @property
    def embedding_dim(self) -> int:
        return self.encoder.embedding_dim

    @property
    def accepts_sparse_features(self) -> bool:
        return self.encoder.accepts_sparse_features

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.encoder(x, edge_index)

    def layer_outputs(self, x: Tensor, edge_index: Tensor) -> list[Tensor]:
        """Every encoder layer's output (for the redundancy analyses)."""
        return self.encoder.layer_outputs(x, edge_index)

    def edge_logits(self, z: Tensor, edges: Tensor) -> Tensor:
        """Logits ``[k]`` of the edges ``[2, k]`` from node embeddings ``z``."""
        return self.decoder(z[edges[0]] * z[edges[1]]).squeeze(-1)

    def layer_views(self) -> list[LayerView]:
        return self.encoder.layer_views()

    def kept_units(self, index: int, ratio: float, layers: int | None = None) -> int:
        return self.encoder.kept_units(index, ratio, layers)

    def slimmed(self, unit_keeps: Sequence[Tensor]) -> "LinkPredictor":
        encoder = self.encoder.slimmed(unit_keeps)
        last = self.encoder.blocks[len(unit_keeps) - 1].out_index(unit_keeps[-1])
        return LinkPredictor(encoder, self.decoder.sliced_input(last))
