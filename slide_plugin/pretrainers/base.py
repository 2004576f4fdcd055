"""What the built-in pretrainers share: their encoders are :class:`StackEncoder` stacks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from registry import Pretrainer

if TYPE_CHECKING:
    from torch import nn


class StackPretrainer(Pretrainer):
    """A pretrainer whose encoder is a slimmable :class:`StackEncoder`, rebuilt from its ``arch``."""

    def build_encoder(self, arch: dict[str, Any]) -> nn.Module:
        from slide_plugin.nn import StackEncoder

        return StackEncoder.from_arch(arch)
