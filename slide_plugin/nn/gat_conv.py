"""Multi-head graph attention that never builds a per-edge message tensor ``[E, heads, units]``.

Numerically PyG's ``GATConv`` with concatenated heads, self-loops and bias (the same parameters,
initialisation draws and attention dropout draws), computed as: attention logits and their edge
softmax per edge and head ``[E, heads]`` (in PyG's edge order), then, per head, a sparse-dense product
of the CSR attention matrix ``[rows, N]`` with the head's projected features ``[N, units]``. The
backward (:class:`_Aggregate`) multiplies by the transposed attention matrix for the features and
takes the attention gradient as a sampled dense-dense product (``torch.sparse.sampled_addmm``), so
memory is ``O(N · heads · units + E · heads)`` forward and backward (PyG's: ``O(E · heads · units)``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.nn.inits import glorot
from torch_geometric.utils import softmax

from slide_plugin.nn.sparse import accept_sparse_input


def _csr(crow: Tensor, col: Tensor, values: Tensor, shape: tuple[int, int]) -> Tensor:
    with warnings.catch_warnings():  # torch's once-per-process "CSR support is in beta" notice
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, shape, check_invariants=False)


def _row_pointers(index: Tensor, rows: int) -> Tensor:
    """CSR row pointers ``[rows + 1]`` of the sorted row indices ``index``."""
    crow = torch.zeros(rows + 1, dtype=torch.long, device=index.device)
    crow[1:] = torch.bincount(index, minlength=rows).cumsum(0)
    return crow


@dataclass
class AttentionGraph:
    """The edges a GAT layer attends over: ``edge_index`` without its self-loops, restricted to targets
    below ``rows``, then one self-loop per target ``0..rows-1`` (PyG's edge order); ``source``,
    ``target [E]``. ``order [E]`` sorts them by target (stable): the CSR layout of the ``[rows, N]``
    attention matrix, with row pointers ``crow [rows + 1]`` and columns ``col = source[order]``."""

    source: Tensor
    target: Tensor
    num_nodes: int
    rows: int

    @classmethod
    def build(cls, edge_index: Tensor, num_nodes: int, rows: int) -> "AttentionGraph":
        source, target = edge_index
        keep = source != target
        if rows < num_nodes:
            keep &= target < rows
        loops = torch.arange(rows, device=edge_index.device)
        return cls(torch.cat([source[keep], loops]), torch.cat([target[keep], loops]), num_nodes, rows)

    @cached_property
    def order(self) -> Tensor:
        return torch.argsort(self.target, stable=True)

    @cached_property
    def crow(self) -> Tensor:
        return _row_pointers(self.target[self.order], self.rows)

    @cached_property
    def col(self) -> Tensor:
        return self.source[self.order]

    @cached_property
    def transposed(self) -> tuple[Tensor, Tensor, Tensor]:
        """The ``[N, rows]`` transposed matrix in CSR: row pointers, columns, and the positions of its
        entries in the CSR order of :attr:`order` (only the backward pass needs it)."""
        position = torch.argsort(self.col, stable=True)
        return _row_pointers(self.col[position], self.num_nodes), self.target[self.order][position], position


class _Aggregate(torch.autograd.Function):
    """``out[i, h] = Σ_{e: target(e) = i} alpha[e, h] · x[source(e), h]`` for ``alpha [E, heads]`` in the
    graph's CSR order and ``x [N, heads, units]`` → ``[rows, heads, units]``, one CSR product per head."""

    @staticmethod
    def forward(ctx, alpha: Tensor, x: Tensor, graph: AttentionGraph) -> Tensor:
        ctx.save_for_backward(alpha, x)
        ctx.graph = graph
        out = x.new_empty(graph.rows, x.size(1), x.size(2))
        for head in range(x.size(1)):
            matrix = _csr(graph.crow, graph.col, alpha[:, head].contiguous(), (graph.rows, graph.num_nodes))
            out[:, head] = matrix @ x[:, head]
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        alpha, x = ctx.saved_tensors
        graph: AttentionGraph = ctx.graph
        grad_alpha = torch.empty_like(alpha) if ctx.needs_input_grad[0] else None
        grad_x = torch.empty_like(x) if ctx.needs_input_grad[1] else None
        if grad_x is not None:
            t_crow, t_col, position = graph.transposed
        for head in range(x.size(1)):
            head_grad = grad[:, head].contiguous()
            if grad_alpha is not None:  # SDDMM: <grad[target(e)], x[source(e)]> on the graph's pattern only
                pattern = _csr(graph.crow, graph.col, alpha[:, head].contiguous(), (graph.rows, graph.num_nodes))
                sampled = torch.sparse.sampled_addmm(pattern, head_grad, x[:, head].t(), beta=0.0)
                grad_alpha[:, head] = sampled.values()
            if grad_x is not None:
                values = alpha[position, head]
                grad_x[:, head] = _csr(t_crow, t_col, values, (graph.num_nodes, graph.rows)) @ head_grad
        return grad_alpha, grad_x, None


class GATConv(nn.Module):
    r"""Graph attention with ``heads`` concatenated heads of ``units`` each, self-loops and bias: PyG's
    ``GATConv(in_dim, units, heads, dropout=dropout, negative_slope=negative_slope)`` (same parameter
    names and shapes: ``lin.weight [heads·units, in_dim]``, ``att_src``/``att_dst [1, heads, units]``,
    ``bias [heads·units]``; same initialisation draws) without its ``[E, heads, units]`` messages.

    Shapes: ``x [N, in_dim]`` (dense or CSR), ``edge_index [2, E]`` (messages flow from row 0 to row 1)
    → ``[rows, heads · units]``: the outputs of the first ``rows`` nodes (default: all ``N``).
    """

    def __init__(self, in_dim: int, units: int, heads: int = 1, dropout: float = 0.0, negative_slope: float = 0.2):
        super().__init__()
        self.in_dim, self.heads, self.units = in_dim, heads, units
        self.dropout, self.negative_slope = dropout, negative_slope
        self.lin = accept_sparse_input(Linear(in_dim, heads * units, bias=False, weight_initializer="glorot"))
        self.att_src = nn.Parameter(torch.empty(1, heads, units))
        self.att_dst = nn.Parameter(torch.empty(1, heads, units))
        self.bias = nn.Parameter(torch.empty(heads * units))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyG ``GATConv``'s initialisation: Glorot ``lin`` and attention vectors, zero bias."""
        self.lin.reset_parameters()
        glorot(self.att_src)
        glorot(self.att_dst)
        nn.init.zeros_(self.bias)

    def forward(self, x: Tensor, edge_index: Tensor, rows: int | None = None) -> Tensor:
        n = x.size(0)
        rows = n if rows is None else rows
        h = self.lin(x).view(n, self.heads, self.units)
        graph = AttentionGraph.build(edge_index, n, rows)
        score_src = torch.einsum("nhc,hc->nh", h, self.att_src[0])  # [N, heads], without an [N, heads, units] product
        score_dst = torch.einsum("nhc,hc->nh", h[:rows], self.att_dst[0])
        logits = F.leaky_relu(score_src[graph.source] + score_dst[graph.target], self.negative_slope)
        alpha = softmax(logits, graph.target, num_nodes=rows)
        alpha = F.dropout(alpha, p=self.dropout, training=self.training)
        out = _Aggregate.apply(alpha[graph.order], h, graph)
        return out.reshape(rows, self.heads * self.units) + self.bias

    def extra_repr(self) -> str:
        return f"{self.in_dim}, {self.units}, heads={self.heads}"
