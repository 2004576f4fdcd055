"""What the built-in pretrainers share: their encoders are :class:`StackEncoder` stacks."""

from __future__ import annotations

from typing import Any

from torch import nn

from registry import Pretrainer
from slide_plugin.nn import StackEncoder


class StackPretrainer(Pretrainer):
    """A pretrainer whose encoder is a slimmable :class:`StackEncoder`, rebuilt from its ``arch``."""

    def build_encoder(self, arch: dict[str, Any]) -> nn.Module:
        return StackEncoder.from_arch(arch)
