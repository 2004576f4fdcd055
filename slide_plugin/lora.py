r"""Low-rank adapters (LoRA, Hu et al., ICLR 2022) on the linear maps of an encoder.

:class:`LoRALinear` wraps a linear map :math:`W x + b` (``torch.nn.Linear`` or PyG's ``Linear``, e.g.
the ``lin`` of ``GATConv``/``GCNConv``) as :math:`W x + b + \frac{\alpha}{r} B A x` with
``A [r, in]`` (Kaiming-uniform) and ``B [out, r]`` (zeros), so the wrapped map starts equal to the
original. :func:`apply_lora` freezes every parameter of a module and wraps each of its linear maps;
only the adapters train. Written by hand (a few lines) because ``peft`` pulls in ``transformers``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch_geometric.nn.dense.linear import Linear as PyGLinear

from slide_plugin.nn.sparse import linear

LINEAR_TYPES = (nn.Linear, PyGLinear)


class LoRALinear(nn.Module):
    """A frozen linear map plus a trainable rank-``rank`` update scaled by ``alpha / rank``.

    Shapes: ``x [..., in]`` → ``[..., out]``.
    """

    def __init__(self, base: nn.Module, rank: int, alpha: float):
        super().__init__()
        if rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {rank}")
        out_dim, in_dim = base.weight.shape
        self.base, self.rank, self.scale = base, rank, alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, in_dim, device=base.weight.device))
        self.lora_b = nn.Parameter(torch.zeros(out_dim, rank, device=base.weight.device))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        for p in self.base.parameters():
            p.requires_grad_(False)

    @property
    def weight(self) -> Tensor:
        """The effective weight ``W + (alpha / r) B A`` (read by code that inspects ``lin.weight``)."""
        return self.base.weight + self.scale * self.lora_b @ self.lora_a

    def forward(self, x: Tensor) -> Tensor:
        return self.base(x) + self.scale * linear(x, self.lora_a) @ self.lora_b.t()


def apply_lora(module: nn.Module, rank: int, alpha: float) -> list[nn.Parameter]:
    """Freeze ``module`` and wrap each of its linear maps in a :class:`LoRALinear` (in place);
    rank 0 wraps nothing. Returns the adapter parameters (2 per wrapped map)."""
    for p in module.parameters():
        p.requires_grad_(False)
    if rank == 0:
        return []
    targets = [(parent, name, child) for parent in module.modules() for name, child in parent.named_children()
               if isinstance(child, LINEAR_TYPES)]
    adapters = []
    for parent, name, child in targets:
        wrapped = LoRALinear(child, rank, alpha)
        setattr(parent, name, wrapped)
        adapters += [wrapped.lora_a, wrapped.lora_b]
    return adapters

