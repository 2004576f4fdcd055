"""Sparse node features for heads: bag-of-words inputs as CSR tensors and row selection on them, so that
an encoder declaring ``accepts_sparse_features`` projects O(non-zeros) instead of O(nodes × features)."""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

MAX_DENSITY = 0.05  # sparser inputs than this go sparse


def sparse_features(x: Tensor, max_density: float = MAX_DENSITY) -> Tensor:
    """``x [N, F]`` as a CSR tensor when it is a dense float matrix on the CPU with at most
    ``max_density`` non-zeros; otherwise ``x`` itself (dense matrix products are fast on accelerators)."""
    if x.layout != torch.strided or x.dim() != 2 or not x.is_floating_point() or x.device.type != "cpu":
        return x
    if x.numel() == 0 or int(torch.count_nonzero(x)) > max_density * x.numel():
        return x
    with warnings.catch_warnings():  # torch's once-per-process "CSR support is in beta" notice
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return x.to_sparse_csr()


def select_rows(x: Tensor, index: Tensor) -> Tensor:
    """Rows ``index`` of ``x``, dense or CSR (which has no ``index_select``)."""
    if x.layout != torch.sparse_csr:
        return x[index]
    crow, col, values = x.crow_indices(), x.col_indices(), x.values()
    starts, counts = crow[index], crow[index + 1] - crow[index]
    new_crow = torch.zeros(index.numel() + 1, dtype=crow.dtype, device=crow.device)
    new_crow[1:] = counts.cumsum(0)
    total = int(new_crow[-1])
    within = torch.arange(total, device=crow.device) - torch.repeat_interleave(new_crow[:-1], counts, output_size=total)
    positions = torch.repeat_interleave(starts, counts, output_size=total) + within
    return torch.sparse_csr_tensor(new_crow, col[positions], values[positions], (index.numel(), x.size(1)),
                                   check_invariants=False)
