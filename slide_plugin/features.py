"""Feature preprocessing shared by pretrainers: row normalisation or standardisation."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch_geometric.data import Data

SCALINGS = ("none", "row", "standard")


def scale_features(data: Data, scaling: str) -> Data:
    """A copy of ``data`` whose ``x`` is row-normalised (rows sum to 1), standardised per column, or unchanged."""
    if scaling not in SCALINGS:
        raise ValueError(f"feature scaling must be one of {', '.join(SCALINGS)}, got '{scaling}'")
    if scaling == "none":
        return data
    data = copy.copy(data)
    x = data.x.float()
    if scaling == "row":
        data.x = x / x.sum(dim=-1, keepdim=True).clamp(min=1e-12)
    else:
        data.x = (x - x.mean(dim=0)) / x.std(dim=0, unbiased=False).clamp(min=1e-12)
    return data
