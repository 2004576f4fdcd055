"""GIN block as in GraphMAE's graph-level encoder: dropout → sum aggregation (PyG ``GINConv``, ε = 0) →
two-layer MLP (linear → norm → activation → linear) → norm → activation."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import GINConv

from slide_plugin.nn.blocks import Block, make_activation, make_norm, slice_norm


class GINBlock(Block):
    r"""Graph isomorphism layer ``act(norm(MLP((1 + ε) x_i + Σ_j x_j)))`` with one head.

    Args:
        in_dim (int): input features.
        units (int): output features (what slimming keeps a fraction of).
        hidden (int, optional): width of the MLP's hidden layer; None: ``units``. When it equals ``units``
            (GraphMAE's encoder), slimming keeps the same unit indices in the hidden layer as in the output.
        dropout (float): dropout on the input features.
        norm (str, optional): ``"batchnorm"`` (GraphMAE), ``"layernorm"`` or ``None``; used inside the MLP
            and, with ``outer``, after it.
        activation (str, optional): ``"prelu"``, ``"relu"``, ... (inside the MLP and, with ``outer``, after it).
        outer (bool): apply norm and activation after the MLP (an encoder layer); False: the MLP's linear
            output (GraphMAE's one-layer decoder).

    Shapes: ``x [N, in_dim]``, ``edge_index [2, E]`` → ``[N, units]``.
    """

    type_name = "gin"

    def __init__(self, in_dim: int, units: int, hidden: int | None = None, dropout: float = 0.0,
                 norm: str | None = None, activation: str | None = None, outer: bool = True):
        super().__init__()
        hidden = units if hidden is None else hidden
        self._arch = dict(type=self.type_name, in_dim=in_dim, units=units, hidden=hidden, dropout=dropout, norm=norm,
                          activation=activation, outer=outer)
        self.dropout = nn.Dropout(dropout)
        mlp = nn.Sequential(nn.Linear(in_dim, hidden), make_norm(norm, hidden), make_activation(activation),
                            nn.Linear(hidden, units))
        self.conv = GINConv(mlp, eps=0.0, train_eps=False)
        self.norm = make_norm(norm if outer else None, units)
        self.activation = make_activation(activation if outer else None)

    @property
    def mlp(self) -> nn.Sequential:
        return self.conv.nn

    @property
    def weight(self) -> Tensor:
        """``[units, hidden]``: the MLP's output layer, which produces each unit."""
        return self.mlp[3].weight

    def forward(self, x: Tensor, edge_index: Tensor, rows: int | None = None) -> Tensor:
        return self.activation(self.norm(self.conv(self.dropout(x), edge_index)[:rows]))

    @torch.no_grad()
    def sliced(self, in_keep: Tensor | None, unit_keep: Tensor) -> "GINBlock":
        arch = self.arch
        arch.pop("type")
        hidden_keep = unit_keep if arch["hidden"] == arch["units"] else torch.arange(arch["hidden"], device=unit_keep.device)
        arch.update(units=len(unit_keep), hidden=len(hidden_keep))
        if in_keep is not None:
            arch["in_dim"] = len(in_keep)
        new = GINBlock(**arch).to(self.weight)  # same device and dtype
        first, last = self.mlp[0], self.mlp[3]
        weight = first.weight[hidden_keep]
        new.mlp[0].weight.copy_(weight if in_keep is None else weight[:, in_keep])
        new.mlp[0].bias.copy_(first.bias[hidden_keep])
        slice_norm(self.mlp[1], hidden_keep, new.mlp[1])
        new.mlp[2].load_state_dict(self.mlp[2].state_dict())  # PReLU: one shared slope
        new.mlp[3].weight.copy_(last.weight[unit_keep][:, hidden_keep])
        new.mlp[3].bias.copy_(last.bias[unit_keep])
        slice_norm(self.norm, unit_keep, new.norm)
        new.activation.load_state_dict(self.activation.state_dict())
        return new
