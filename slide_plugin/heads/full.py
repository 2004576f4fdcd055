"""Full fine-tuning: encoder and a new linear classifier trained together, two Adam optimisers.

Full batch by default; with ``batch_size``, one step per mini-batch of training nodes (GRACE's and
MaskGAE's official FT loops). The official loops embed a batch with a full-graph forward; here every
batch (the full one too) is embedded on its receptive field, the same rows for less work
(:func:`~registry.heads.batch_forward`), as SLIDE's batches are.
``encoder_train_mode=False`` runs the encoder in eval mode while fine-tuning (dropout off,
BatchNorm on its running statistics; its affine parameters still learn), as MaskGAE's
``get_embedding_tune`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from registry import Count, Head, RunContext
from slide_plugin.heads.search import EncoderLearningRate, Epochs, LearningRate, WeightDecay
from slide_plugin.heads.protocol import GRAPHMAE_PROTOCOL, ClassifierInit

if TYPE_CHECKING:
    from torch import nn
    from torch_geometric.data import Data


@dataclass
class FullOptions:
    head_lr: LearningRate = 0.01
    head_weight_decay: WeightDecay = 1e-4
    encoder_lr: EncoderLearningRate = 1e-4
    encoder_weight_decay: WeightDecay = 0.0
    epochs: Epochs = 300
    batch_size: Count | None = None
    encoder_train_mode: bool = True
    budget_steps: Count | None = None  # train exactly this many optimiser steps (epochs follow); None: `epochs`
    later_ties: bool = False  # on a validation tie keep the later epoch (official GraphMAE: True, `>=`)
    classifier_init: ClassifierInit = "xavier"  # official GraphMAE: "default" (nn.Linear's own)


class FullFineTune(Head):
    name = "full"
    version = "4"  # 4: GraphMAE's later-epoch ties, nn.Linear init; 3: receptive-field batches, fused Adam; 2: CSR
    description = "full fine-tuning of encoder + linear classifier (full or mini-batch, best-validation epoch)"
    Options = FullOptions
    # Official FT settings, paper.md §1b: SLIDE graphmae/evaluation.py lr_wd_dict + main_transductive.py;
    # GRACE/train.py + eval.py (mini-batches); MaskGAE/train_nodeclas.py (mini-batches, encoder in eval mode).
    overrides = {
        "graphmae/Cora": dict(head_lr=0.05, head_weight_decay=1e-4, encoder_lr=1e-7, encoder_weight_decay=0.0, epochs=300, **GRAPHMAE_PROTOCOL),
        "graphmae/CiteSeer": dict(head_lr=0.02, head_weight_decay=0.1, encoder_lr=1e-6, encoder_weight_decay=1e-3, epochs=250, **GRAPHMAE_PROTOCOL),
        "graphmae/PubMed": dict(head_lr=0.05, head_weight_decay=0.0, encoder_lr=1e-6, encoder_weight_decay=0.0, epochs=300, **GRAPHMAE_PROTOCOL),
        "graphmae/Photo": dict(head_lr=0.001, head_weight_decay=0.05, encoder_lr=5e-6, encoder_weight_decay=0.0, epochs=1000, **GRAPHMAE_PROTOCOL),
        "graphmae/Computers": dict(head_lr=0.001, head_weight_decay=0.01, encoder_lr=5e-5, encoder_weight_decay=0.0, epochs=1000, **GRAPHMAE_PROTOCOL),
        "graphmae/ogbn-arxiv": dict(head_lr=0.02, head_weight_decay=0.0, encoder_lr=5e-4, encoder_weight_decay=1e-3, epochs=600, **GRAPHMAE_PROTOCOL),
        "grace/Cora": dict(head_lr=0.02, head_weight_decay=0.0, encoder_lr=1e-7, encoder_weight_decay=0.0, epochs=200, batch_size=16),
        "grace/CiteSeer": dict(head_lr=0.01, head_weight_decay=0.01, encoder_lr=1e-8, encoder_weight_decay=0.0, epochs=100, batch_size=8),
        "grace/PubMed": dict(head_lr=0.02, head_weight_decay=0.0, encoder_lr=1e-6, encoder_weight_decay=0.0, epochs=200, batch_size=60),
        "grace/Photo": dict(head_lr=0.02, head_weight_decay=0.0, encoder_lr=5e-5, encoder_weight_decay=0.0, epochs=250, batch_size=153),
        "grace/Computers": dict(head_lr=0.1, head_weight_decay=0.0, encoder_lr=5e-4, encoder_weight_decay=0.0, epochs=200, batch_size=275),
        "maskgae/Cora": dict(head_lr=5e-3, head_weight_decay=1e-3, encoder_lr=1e-4, encoder_weight_decay=1e-3, epochs=400, batch_size=512, encoder_train_mode=False),
        "maskgae/CiteSeer": dict(head_lr=0.01, head_weight_decay=5e-3, encoder_lr=1e-4, encoder_weight_decay=1e-4, epochs=400, batch_size=512, encoder_train_mode=False),
        "maskgae/PubMed": dict(head_lr=0.015, head_weight_decay=5e-4, encoder_lr=1e-4, encoder_weight_decay=0.0, epochs=300, batch_size=512, encoder_train_mode=False),
        "maskgae/Photo": dict(head_lr=0.01, head_weight_decay=1e-2, encoder_lr=1e-4, encoder_weight_decay=0.0, epochs=200, batch_size=512, encoder_train_mode=False),
        "maskgae/Computers": dict(head_lr=0.005, head_weight_decay=5e-3, encoder_lr=2e-4, encoder_weight_decay=0.0, epochs=200, batch_size=512, encoder_train_mode=False),
        "maskgae/ogbn-arxiv": dict(head_lr=0.01, head_weight_decay=0.0, encoder_lr=1e-4, encoder_weight_decay=0.0, epochs=100, batch_size=4096, encoder_train_mode=False),
    }
    quick = dict(epochs=20)

    def fit(self, encoder: nn.Module, data: Data, options: FullOptions, ctx: RunContext) -> dict[str, float]:
        from slide_plugin.heads.loops import fit_full  # torch loads when a head runs

        return fit_full(encoder, data, options, ctx)
