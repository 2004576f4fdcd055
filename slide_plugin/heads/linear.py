"""Linear probing: the encoder is frozen, embeddings are computed once, a linear classifier is trained."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from registry import Count, Head, RunContext
from slide_plugin.heads.search import Epochs, LearningRate, WeightDecay
from slide_plugin.heads.protocol import GRAPHMAE_PROTOCOL, ClassifierInit

if TYPE_CHECKING:
    from torch import nn
    from torch_geometric.data import Data


MASKGAE_DATASETS = ("Cora", "CiteSeer", "PubMed", "Photo", "Computers", "ogbn-arxiv")
MASKGAE_SLIM_EPOCHS = {"half": 400, "2-original": 400, "2-half": 400, "2-quarter": 400, "quarter": 600}


@dataclass
class LinearOptions:
    """``batch_size``: training nodes per step (None: all of them, one step per epoch); mini-batches are
    drawn in a fresh random order every epoch (MaskGAE's protocol)."""

    lr: LearningRate = 0.01
    weight_decay: WeightDecay = 1e-4
    epochs: Epochs = 300
    batch_size: Count | None = None
    later_ties: bool = False  # on a validation tie keep the later epoch (official GraphMAE: True)
    classifier_init: ClassifierInit = "xavier"  # official GraphMAE: "default" (nn.Linear's own)


class LinearProbe(Head):
    name = "linear"
    version = "2"  # 2: GraphMAE's classifier init (nn.Linear default); MaskGAE's slim-encoder epochs (400/600)
    description = "linear probe on frozen embeddings (computed once), Adam (full or mini-batch), best-validation epoch"
    Options = LinearOptions
    # Per-method LP protocols, paper.md §3.3: GraphMAE lr_f / weight_decay_f / max_epoch_f; GRACE: SLIDE's own
    # full-batch settings; MaskGAE: Adam lr 0.01, wd = nodeclas_weight_decay, mini-batches of 512 (arXiv 4096),
    # 200 epochs on the original encoder, 400 on Half and 2-X, 600 on Quarter (the official SLIDE code's `base`).
    overrides = {
        "graphmae/Cora": dict(lr=0.01, weight_decay=1e-4, epochs=300, **GRAPHMAE_PROTOCOL),
        "graphmae/CiteSeer": dict(lr=0.01, weight_decay=0.01, epochs=300, **GRAPHMAE_PROTOCOL),
        "graphmae/PubMed": dict(lr=0.01, weight_decay=1e-4, epochs=300, **GRAPHMAE_PROTOCOL),
        "graphmae/Photo": dict(lr=0.01, weight_decay=5e-4, epochs=1000, **GRAPHMAE_PROTOCOL),
        "graphmae/Computers": dict(lr=0.01, weight_decay=5e-4, epochs=1000, **GRAPHMAE_PROTOCOL),
        "graphmae/ogbn-arxiv": dict(lr=0.01, weight_decay=5e-4, epochs=600, **GRAPHMAE_PROTOCOL),
        "grace/Cora": dict(lr=0.05, weight_decay=1e-5, epochs=1000),
        "grace/CiteSeer": dict(lr=0.5, weight_decay=5e-3, epochs=1000),
        "grace/PubMed": dict(lr=0.05, weight_decay=1e-5, epochs=500),
        "grace/Photo": dict(lr=0.05, weight_decay=0.0, epochs=500),
        "grace/Computers": dict(lr=0.5, weight_decay=0.0, epochs=500),
        **{f"maskgae/{name}": dict(lr=0.01, weight_decay=wd, epochs=200, batch_size=512) for name, wd in
           (("Cora", 1e-3), ("CiteSeer", 0.1), ("PubMed", 1e-3), ("Photo", 5e-3), ("Computers", 1e-3))},
        "maskgae/ogbn-arxiv": dict(lr=0.01, weight_decay=0.0, epochs=200, batch_size=4096),
        **{f"maskgae/{name}/{slimmer}": dict(epochs=epochs) for name in MASKGAE_DATASETS
           for slimmer, epochs in MASKGAE_SLIM_EPOCHS.items()},
    }
    quick = dict(epochs=30)

    def fit(self, encoder: nn.Module, data: Data, options: LinearOptions, ctx: RunContext) -> dict[str, float]:
        from slide_plugin.heads.loops import fit_linear  # torch loads when a head runs

        return fit_linear(encoder, data, options, ctx)
