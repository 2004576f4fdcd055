"""Linear centered kernel alignment (CKA; Kornblith et al., ICML 2019) between two representations.

With column-centred ``X [N, d1]`` and ``Y [N, d2]`` of the same ``N`` samples,

    CKA(X, Y) = ‖Yᵀ X‖²_F / (‖Xᵀ X‖_F · ‖Yᵀ Y‖_F),

which equals the HSIC form on the ``N × N`` linear kernels ``XXᵀ``, ``YYᵀ`` but needs only
``d × d`` matrices. Rows are processed in chunks and accumulated in float64, so ``N`` can be as
large as ogbn-arxiv on any device. CKA is 1 for identical representations and invariant to
orthogonal transforms and isotropic scaling of either argument.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _column_mean(x: Tensor, chunk: int) -> Tensor:
    total = torch.zeros(x.size(1), dtype=torch.float64, device=x.device)
    for start in range(0, x.size(0), chunk):
        total += x[start:start + chunk].double().sum(dim=0)
    return total / x.size(0)


@torch.no_grad()
def linear_cka(x: Tensor, y: Tensor, chunk: int = 8192) -> float:
    """Linear CKA of ``x [N, d1]`` and ``y [N, d2]`` (rows = the same samples), in [0, 1].

    Returns NaN when either representation is constant over the samples (zero after centring),
    where CKA is undefined.
    """
    if x.dim() != 2 or y.dim() != 2 or x.size(0) != y.size(0):
        raise ValueError(f"expected [N, d1] and [N, d2] with the same N, got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.size(0) < 2:
        raise ValueError("CKA needs at least 2 samples")
    y = y.to(x.device)
    mean_x, mean_y = _column_mean(x, chunk), _column_mean(y, chunk)
    xx = torch.zeros(x.size(1), x.size(1), dtype=torch.float64, device=x.device)
    yy = torch.zeros(y.size(1), y.size(1), dtype=torch.float64, device=x.device)
    yx = torch.zeros(y.size(1), x.size(1), dtype=torch.float64, device=x.device)
    for start in range(0, x.size(0), chunk):
        xc = x[start:start + chunk].double() - mean_x
        yc = y[start:start + chunk].double() - mean_y
        xx += xc.T @ xc
        yy += yc.T @ yc
        yx += yc.T @ xc
    denominator = torch.linalg.matrix_norm(xx) * torch.linalg.matrix_norm(yy)
    if denominator == 0:
        return float("nan")
    return float(torch.linalg.matrix_norm(yx) ** 2 / denominator)
