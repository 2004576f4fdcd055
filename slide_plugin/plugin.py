"""slide_plugin's entry point: registers the built-in pretrainers, slimming strategies and heads
through the same hooks a third-party plugin uses."""

from __future__ import annotations

from registry import hookimpl
from slide_plugin import commands, slimming
from slide_plugin.heads.full import FullFineTune
from slide_plugin.heads.linear import LinearProbe
from slide_plugin.heads.lora import LoraHead, SlideLoraHead
from slide_plugin.heads.slide import SlideHead
from slide_plugin.pretrainers.grace import GRACE
from slide_plugin.pretrainers.graphmae import GraphMAE
from slide_plugin.pretrainers.maskgae import MaskGAE


@hookimpl
def register_pretrainers(register):
    register(GraphMAE())
    register(GRACE())
    register(MaskGAE())


@hookimpl
def register_slimmers(register):
    for slimmer in slimming.BUILTIN:
        register(slimmer)


@hookimpl
def register_heads(register):
    register(LinearProbe())
    register(FullFineTune())
    register(SlideHead())
    register(LoraHead())
    register(SlideLoraHead())


@hookimpl
def register_commands(subparsers):
    commands.register_commands(subparsers)
