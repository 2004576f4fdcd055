"""Multi-head graph attention that never builds a per-edge message tensor ``[E, heads, units]``.

Numerically PyG's ``GATConv`` with concatenated heads, self-loops and bias (the same parameters,
initialisation draws and attention dropout draws), computed as: attention logits and their edge
softmax per edge and head ``[E, heads]`` (in PyG's edge order), then, per head, a sparse-dense product
of the CSR attention matrix ``[rows, N]`` with the head's projected features ``[N, units]``. The
backward (:class:`_Attend`) multiplies by the transposed attention matrix for the features and
takes the attention gradient as a sampled dense-dense product (``torch.sparse.sampled_addmm``), so
memory is ``O(N · heads · units + E · heads)`` forward and backward (PyG's: ``O(E · heads · units)``):
besides the projected features it keeps nothing of size ``[N, heads, units]``, and its backward adds
one such buffer, the features' gradient.
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


def _scores(h: Tensor, att: Tensor) -> Tensor:
    """``[N, heads]``: each head's features dotted with its attention vector ``att [heads, units]``, one
    matrix-vector product per head (no ``[N, heads, units]`` temporary)."""
    return torch.stack([h[:, k] @ att[k] for k in range(h.size(1))], dim=1)


class _Attend(torch.autograd.Function):
    """``out[i, h] = bias_h + Σ_{e: target(e) = i} alpha[e, h] · x[source(e), h]`` for ``x [N, heads, units]``
    → ``[rows, heads · units]``, where ``alpha [E, heads]`` = ``attention(score_src, score_dst)`` (in the
    graph's CSR order) of the scores of ``x`` with ``att_src``/``att_dst``: one CSR product per head.

    The ``[E, heads]`` attention is a small autograd graph of its own (logits, edge softmax, dropout),
    differentiated inside the backward. The backward gathers every gradient of ``x`` — through the
    aggregation (the transposed attention matrix times the output gradient) and through both scores —
    in one ``[N, heads, units]`` buffer, in place; nothing else of that size is kept or made."""

    @staticmethod
    def forward(ctx, x: Tensor, att_src: Tensor, att_dst: Tensor, bias: Tensor, graph: AttentionGraph,
                attention) -> Tensor:
        rows, heads, units = graph.rows, x.size(1), x.size(2)
        with torch.set_grad_enabled(any(ctx.needs_input_grad[:4])):  # no graph for inference
            scores = (_scores(x, att_src[0]).requires_grad_(), _scores(x[:rows], att_dst[0]).requires_grad_())
            alpha = attention(*scores)
        ctx.save_for_backward(x, att_src, att_dst)
        ctx.graph, ctx.scores, ctx.alpha = graph, scores, alpha
        out = x.new_empty(rows, heads, units)
        for head in range(heads):
            matrix = _csr(graph.crow, graph.col, alpha[:, head].detach().contiguous(), (rows, graph.num_nodes))
            out[:, head] = matrix @ x[:, head]
        return out.view(rows, heads * units).add_(bias)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, att_src, att_dst = ctx.saved_tensors
        graph: AttentionGraph = ctx.graph
        rows, heads, units = graph.rows, x.size(1), x.size(2)
        alpha, grad = ctx.alpha.detach(), grad.view(rows, heads, units)
        grad_alpha, grad_x = torch.empty_like(alpha), torch.empty_like(x)
        t_crow, t_col, position = graph.transposed
        for head in range(heads):
            head_grad = grad[:, head].contiguous()
            # SDDMM: <grad[target(e)], x[source(e)]> on the graph's pattern only
            pattern = _csr(graph.crow, graph.col, alpha[:, head].contiguous(), (rows, graph.num_nodes))
            grad_alpha[:, head] = torch.sparse.sampled_addmm(pattern, head_grad, x[:, head].t(), beta=0.0).values()
            transposed = _csr(t_crow, t_col, alpha[position, head], (graph.num_nodes, rows))
            grad_x[:, head] = transposed @ head_grad
        grad_src, grad_dst = torch.autograd.grad(ctx.alpha, ctx.scores, grad_alpha)
        grad_x.addcmul_(grad_src.unsqueeze(-1), att_src)
        grad_x[:rows].addcmul_(grad_dst.unsqueeze(-1), att_dst)
        grad_att_src = torch.stack([grad_src[:, k] @ x[:, k] for k in range(heads)]).unsqueeze(0)
        grad_att_dst = torch.stack([grad_dst[:, k] @ x[:rows, k] for k in range(heads)]).unsqueeze(0)
        ctx.scores = ctx.alpha = None
        return grad_x, grad_att_src, grad_att_dst, grad.sum(0).flatten(), None, None


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

        def attention(score_src: Tensor, score_dst: Tensor) -> Tensor:
            """``[E, heads]`` in CSR order: PyG's logits, edge softmax and attention dropout (same draws)."""
            logits = F.leaky_relu(score_src[graph.source] + score_dst[graph.target], self.negative_slope)
            alpha = softmax(logits, graph.target, num_nodes=rows)
            return F.dropout(alpha, p=self.dropout, training=self.training)[graph.order]

        return _Attend.apply(h, self.att_src, self.att_dst, self.bias, graph, attention)

    def extra_repr(self) -> str:
        return f"{self.in_dim}, {self.units}, heads={self.heads}"
