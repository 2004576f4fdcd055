"""GCN block as in GRACE and MaskGAE: dropout → GCNConv → optional norm → activation."""

from __future__ import annotations


import torch
from torch import Tensor, nn
from torch_geometric.nn import GCNConv

from slide_plugin.nn.blocks import Block, make_activation, make_norm, slice_norm
from slide_plugin.nn.sparse import accept_sparse_input, feature_dropout


class GCNBlock(Block):
    r"""Graph convolution (symmetric normalisation with self-loops) with one head.

    Args:
        in_dim (int): input features.
        units (int): output features.
        dropout (float): dropout on the input features (MaskGAE applies it before every layer).
        norm (str, optional): ``"batchnorm"`` (MaskGAE ``--bn``), ``"layernorm"`` or ``None``.
        activation (str, optional): ``"relu"``, ``"prelu"``, ``"elu"``, ... or ``None``.

    Shapes: ``x [N, in_dim]``, ``edge_index [2, E]`` → ``[N, units]``.
    """

    type_name = "gcn"
    extra_hops = 1

    def __init__(self, in_dim: int, units: int, dropout: float = 0.0, norm: str | None = None,
                 activation: str | None = None):
        super().__init__()
        self._arch = dict(type=self.type_name, in_dim=in_dim, units=units, dropout=dropout, norm=norm,
                          activation=activation)
        self.dropout = nn.Dropout(dropout)
        self.conv = GCNConv(in_dim, units)
        accept_sparse_input(self.conv.lin)
        self.norm = make_norm(norm, units)
        self.activation = make_activation(activation)

    def forward(self, x: Tensor, edge_index: Tensor, rows: int | None = None) -> Tensor:
        return self.activation(self.norm(self.conv(feature_dropout(x, self.dropout), edge_index)[:rows]))

    @torch.no_grad()
    def sliced(self, in_keep: Tensor | None, unit_keep: Tensor) -> "GCNBlock":
        arch = self.arch
        arch.pop("type")
        arch["units"] = len(unit_keep)
        if in_keep is not None:
            arch["in_dim"] = len(in_keep)
        new = GCNBlock(**arch).to(self.conv.lin.weight.device)
        weight = self.conv.lin.weight[unit_keep]
        new.conv.lin.weight.copy_(weight if in_keep is None else weight[:, in_keep])
        new.conv.bias.copy_(self.conv.bias[unit_keep])
        slice_norm(self.norm, unit_keep, new.norm)
        new.activation.load_state_dict(self.activation.state_dict())  # PReLU: one shared slope
        return new
