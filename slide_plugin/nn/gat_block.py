"""GAT block as in GraphMAE: feature dropout → multi-head GATConv (:mod:`slide_plugin.nn.gat_conv`) → norm →
activation."""

from __future__ import annotations


import torch
from torch import Tensor, nn

from slide_plugin.nn.blocks import Block, make_activation, make_norm, slice_norm
from slide_plugin.nn.gat_conv import GATConv
from slide_plugin.nn.sparse import feature_dropout


class GATBlock(Block):
    r"""Multi-head graph attention layer with concatenated heads.

    Args:
        in_dim (int): input features.
        units (int): output features per head; the block outputs ``heads * units``.
        heads (int): attention heads.
        feat_drop (float): dropout on the input features.
        attn_drop (float): dropout on the attention coefficients.
        norm (str, optional): ``"layernorm"``, ``"batchnorm"`` or ``None``.
        activation (str, optional): ``"prelu"``, ``"elu"``, ``"relu"``, ... or ``None``.
        negative_slope (float): LeakyReLU slope of the attention logits.

    Shapes: ``x [N, in_dim]``, ``edge_index [2, E]`` → ``[N, heads * units]``.
    """

    type_name = "gat"

    def __init__(self, in_dim: int, units: int, heads: int = 1, feat_drop: float = 0.0, attn_drop: float = 0.0,
                 norm: str | None = None, activation: str | None = None, negative_slope: float = 0.2):
        super().__init__()
        self._arch = dict(type=self.type_name, in_dim=in_dim, units=units, heads=heads, feat_drop=feat_drop,
                          attn_drop=attn_drop, norm=norm, activation=activation, negative_slope=negative_slope)
        self.feat_drop = nn.Dropout(feat_drop)
        self.conv = GATConv(in_dim, units, heads, attn_drop, negative_slope)
        self.norm = make_norm(norm, heads * units)
        self.activation = make_activation(activation)

    def forward(self, x: Tensor, edge_index: Tensor, rows: int | None = None) -> Tensor:
        return self.activation(self.norm(self.conv(feature_dropout(x, self.feat_drop), edge_index, rows)))

    @torch.no_grad()
    def reset_xavier_normal(self, gain: float) -> None:
        """Xavier-normal weights and attention vectors with ``gain``, zero bias: the initialisation of
        the official (DGL) GraphMAE GAT layers, with ``gain = calculate_gain("relu")``."""
        for tensor in (self.conv.lin.weight, self.conv.att_src, self.conv.att_dst):
            nn.init.xavier_normal_(tensor, gain=gain)
        nn.init.zeros_(self.conv.bias)

    @torch.no_grad()
    def sliced(self, in_keep: Tensor | None, unit_keep: Tensor) -> "GATBlock":
        arch = self.arch
        arch.pop("type")
        arch["units"] = len(unit_keep)
        if in_keep is not None:
            arch["in_dim"] = len(in_keep)
        new = GATBlock(**arch).to(self.conv.lin.weight)  # same device and dtype
        rows = self.out_index(unit_keep)
        weight = self.conv.lin.weight[rows]
        new.conv.lin.weight.copy_(weight if in_keep is None else weight[:, in_keep])
        new.conv.att_src.copy_(self.conv.att_src[:, :, unit_keep])
        new.conv.att_dst.copy_(self.conv.att_dst[:, :, unit_keep])
        new.conv.bias.copy_(self.conv.bias[rows])
        slice_norm(self.norm, rows, new.norm)
        new.activation.load_state_dict(self.activation.state_dict())  # PReLU: one shared slope
        return new
