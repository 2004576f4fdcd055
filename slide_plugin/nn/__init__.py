"""Slimmable GNN building blocks and the encoder that stacks them."""

from slide_plugin.nn.blocks import BLOCKS, Block, build_block
from slide_plugin.nn.encoder import StackEncoder
from slide_plugin.nn.gat_block import GATBlock
from slide_plugin.nn.gcn_block import GCNBlock
from slide_plugin.nn.gin_block import GINBlock

__all__ = ["BLOCKS", "Block", "GATBlock", "GCNBlock", "GINBlock", "StackEncoder", "build_block"]
