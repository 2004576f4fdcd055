"""Linear probing: the encoder is frozen, embeddings are computed once, a linear classifier is trained."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from registry import Count, Head, RunContext
from slide_plugin.heads.search import Epochs, LearningRate, WeightDecay

if TYPE_CHECKING:
    from torch import nn
    from torch_geometric.data import Data


@dataclass
class LinearOptions:
    """``batch_size``: training nodes per step (None: all of them, one step per epoch); mini-batches are
    drawn in a fresh random order every epoch (MaskGAE's protocol)."""

    lr: LearningRate = 0.01
    weight_decay: WeightDecay = 1e-4
    epochs: Epochs = 300
    batch_size: Count | None = None
    later_ties: bool = False  # on a validation tie keep the later epoch (official GraphMAE: True)


class LinearProbe(Head):
    name = "linear"
    description = "linear probe on frozen embeddings (computed once), Adam (full or mini-batch), best-validation epoch"
    Options = LinearOptions
    # Per-method LP protocols, paper.md §3.3: GraphMAE lr_f / weight_decay_f / max_epoch_f; GRACE: SLIDE's own
    # full-batch settings; MaskGAE: Adam lr 0.01, wd = nodeclas_weight_decay, mini-batches of 512 (arXiv 4096),
    # 200 epochs (the official SLIDE code uses 400 for Half/2-X and 600 for Quarter).
    overrides = {
        "graphmae/Cora": dict(lr=0.01, weight_decay=1e-4, epochs=300, later_ties=True),
        "graphmae/CiteSeer": dict(lr=0.01, weight_decay=0.01, epochs=300, later_ties=True),
        "graphmae/PubMed": dict(lr=0.01, weight_decay=1e-4, epochs=300, later_ties=True),
        "graphmae/Photo": dict(lr=0.01, weight_decay=5e-4, epochs=1000, later_ties=True),
        "graphmae/Computers": dict(lr=0.01, weight_decay=5e-4, epochs=1000, later_ties=True),
        "graphmae/ogbn-arxiv": dict(lr=0.01, weight_decay=5e-4, epochs=600, later_ties=True),
        "grace/Cora": dict(lr=0.05, weight_decay=1e-5, epochs=1000),
        "grace/CiteSeer": dict(lr=0.5, weight_decay=5e-3, epochs=1000),
        "grace/PubMed": dict(lr=0.05, weight_decay=1e-5, epochs=500),
        "grace/Photo": dict(lr=0.05, weight_decay=0.0, epochs=500),
        "grace/Computers": dict(lr=0.5, weight_decay=0.0, epochs=500),
        **{f"maskgae/{name}": dict(lr=0.01, weight_decay=wd, epochs=200, batch_size=512) for name, wd in
           (("Cora", 1e-3), ("CiteSeer", 0.1), ("PubMed", 1e-3), ("Photo", 5e-3), ("Computers", 1e-3))},
        "maskgae/ogbn-arxiv": dict(lr=0.01, weight_decay=0.0, epochs=200, batch_size=4096),
    }
    quick = dict(epochs=30)

    def fit(self, encoder: nn.Module, data: Data, options: LinearOptions, ctx: RunContext) -> dict[str, float]:
        from slide_plugin.heads.loops import fit_linear  # torch loads when a head runs

        return fit_linear(encoder, data, options, ctx)
