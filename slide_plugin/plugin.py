"""slide_plugin's entry point: registers the built-in pretrainers, slimming strategies and heads
through the same hooks a third-party plugin uses. Each hook imports its components when it is
called, so that ``slide-bench --help`` never loads them."""

from __future__ import annotations

from registry import hookimpl


@hookimpl
def register_pretrainers(register):
    from slide_plugin.pretrainers.grace import GRACE
    from slide_plugin.pretrainers.graphmae import GraphMAE
    from slide_plugin.pretrainers.graphmae_graph import GraphMAEGraph
    from slide_plugin.pretrainers.maskgae import MaskGAE
    from slide_plugin.pretrainers.maskgae_link import MaskGAELink

    register(GraphMAE())
    register(GRACE())
    register(MaskGAE())
    register(MaskGAELink())
    register(GraphMAEGraph())


@hookimpl
def register_slimmers(register):
    from slide_plugin import slimming

    for slimmer in slimming.BUILTIN:
        register(slimmer)


@hookimpl
def register_heads(register):
    from slide_plugin.heads.full import FullFineTune
    from slide_plugin.heads.graph import GraphFineTune, GraphSlide, SvmHead
    from slide_plugin.heads.linear import LinearProbe
    from slide_plugin.heads.link import LinkEval, LinkFineTune, LinkSlide
    from slide_plugin.heads.lora import LoraHead, SlideLoraHead
    from slide_plugin.heads.slide import SlideHead, SlideKeepingClassMass, SlideWithoutDecorrelation

    register(LinearProbe())
    register(FullFineTune())
    register(SlideHead())
    register(SlideWithoutDecorrelation())
    register(SlideKeepingClassMass())
    register(LoraHead())
    register(SlideLoraHead())
    register(LinkEval())
    register(LinkFineTune())
    register(LinkSlide())
    register(SvmHead())
    register(GraphFineTune())
    register(GraphSlide())


@hookimpl
def register_commands(subparsers):
    from slide_plugin import commands

    commands.register_commands(subparsers)
