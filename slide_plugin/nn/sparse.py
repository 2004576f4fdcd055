"""Sparse node features in slimmable blocks: bag-of-words inputs (Cora, CiteSeer, PubMed hold about 1%
non-zeros) arrive as CSR tensors (:func:`registry.sparse.sparse_features`), so that a block's first
projection costs O(non-zeros) instead of O(nodes × features).

Dropout on a sparse input draws only for the stored entries; the entries it leaves alone are zero and
stay zero under dropout, so the result has the dense dropout's distribution (not its random stream).
A block's projection of a CSR input goes through :func:`linear`, whose backward multiplies by the
transposed input as a COO tensor (free to transpose) instead of letting autograd convert the CSR
matrix to its transpose's layout every step (about 3× faster, from a batch's rows to a full graph).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn.dense.linear import Linear as PyGLinear


@dataclass
class TokenRows:
    """Node features whose ``rows`` hold a learnable token instead (GraphMAE's [MASK]): ``x`` (CSR, zero
    on ``rows``) plus a dense term, ``token [1, F]`` on every row of ``rows`` (or, after dropout, one
    ``[len(rows), F]`` row each), never built as one dense ``[N, F]`` matrix. A block's projection is
    ``x``'s sparse product plus the token's (:func:`linear`)."""

    x: Tensor
    rows: Tensor
    token: Tensor

    def size(self, dim: int) -> int:
        return self.x.size(dim)


def feature_dropout(x: Tensor | TokenRows, dropout: nn.Dropout) -> Tensor | TokenRows:
    """``dropout(x)`` for dense, CSR and :class:`TokenRows` inputs alike."""
    if isinstance(x, TokenRows):
        token = x.token.expand(x.rows.numel(), -1) if dropout.training and dropout.p > 0 else x.token
        return TokenRows(feature_dropout(x.x, dropout), x.rows, dropout(token))
    if x.layout != torch.sparse_csr:
        return dropout(x)
    return torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(), dropout(x.values()), x.shape,
                                   check_invariants=False)


class _CSRLinear(torch.autograd.Function):
    """``x @ weight.T`` for a CSR ``x [N, in]`` that needs no gradient; ``weight [out, in]``."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor) -> Tensor:
        ctx.x = x
        return F.linear(x, weight)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, Tensor]:
        x = ctx.x
        crow = x.crow_indices()
        rows = torch.repeat_interleave(torch.arange(x.size(0), device=grad.device), crow.diff(),
                                       output_size=x.col_indices().numel())
        transposed = torch.sparse_coo_tensor(torch.stack([x.col_indices(), rows]), x.values(), (x.size(1), x.size(0)),
                                             check_invariants=False)
        return None, torch.sparse.mm(transposed, grad).t()


def linear(x: Tensor | TokenRows, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``F.linear`` for dense, CSR and :class:`TokenRows` inputs alike (a CSR input gets no gradient; a
    token does)."""
    if isinstance(x, TokenRows):
        token = F.linear(x.token, weight).expand(x.rows.numel(), -1)
        return linear(x.x, weight, bias).index_add(0, x.rows, token)
    if x.layout != torch.sparse_csr:
        return F.linear(x, weight, bias)
    out = _CSRLinear.apply(x, weight)
    return out if bias is None else out + bias


class SparseInputLinear(PyGLinear):
    """PyG's ``Linear`` that takes CSR inputs through :func:`linear`."""

    def forward(self, x: Tensor | TokenRows) -> Tensor:
        if not isinstance(x, TokenRows) and x.layout != torch.sparse_csr:
            return super().forward(x)
        return linear(x, self.weight, self.bias)


def accept_sparse_input(module: PyGLinear) -> PyGLinear:
    """Make a conv's ``lin`` a :class:`SparseInputLinear` in place: same object, parameters and
    initialisation (no random draw), only its forward on CSR inputs changes."""
    if not isinstance(module, PyGLinear):
        raise TypeError(f"expected torch_geometric's Linear, got {type(module).__name__}")
    module.__class__ = SparseInputLinear
    return module
