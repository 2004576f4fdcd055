"""Link-prediction heads: the slimmed encoder and edge decoder scored as they are (``link-eval``, the
paper's Table 6), or after a short fine-tuning (``link-full``), optionally SLIDE-re-weighted (``link-slide``).

Fine-tuning continues MaskGAE's pretext task on the training edges (``data.edge_index``): per epoch a
random ``mask_ratio`` of them is hidden from the encoder and scored against as many sampled non-edges
(binary cross-entropy), in mini-batches of ``batch_size`` masked edges, each with a full-graph forward;
encoder and decoder train with Adam. ``link-slide`` weights each mini-batch's edges by
:class:`~slide_plugin.decorrelation.SampleReweighter` weights that de-correlate the edge representations
``z_u ⊙ z_v`` (what the decoder reads), from the second epoch on. Validation AUC (encoding the training
edges) picks the epoch, the untuned model (epoch 0) included; test AUC and AP encode training and
validation edges (``data.test_edge_index``), as MaskGAE's ``train_linkpred.py``. The SLIDE settings are
this benchmark's choice: no published SLIDE code covers link prediction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from registry import Count, Head, NonNegativeFloat, NonNegativeInt, PositiveFloat, Ratio, RunContext
from registry.tasks import LINK
from slide_plugin.heads.weighting import WeightLearnerOptions, make_reweighter

if TYPE_CHECKING:
    from torch import nn
    from torch_geometric.data import Data


class LinkEval(Head):
    name = "link-eval"
    description = "score held-out edges with the (slimmed) encoder and edge decoder as they are: no training"
    tasks = (LINK,)

    def fit(self, encoder: nn.Module, data: Data, options: Any, ctx: RunContext) -> dict[str, float]:
        from registry.metrics import count_parameters
        from slide_plugin.heads.link_loop import evaluate

        return evaluate(encoder, data, ctx.device) | {"trainable_params": 0, "total_params": count_parameters(encoder)}


@dataclass
class LinkFineTuneOptions:
    lr: PositiveFloat = 0.001
    weight_decay: NonNegativeFloat = 5e-5
    epochs: Count = 30
    batch_size: Count = 512  # masked training edges per mini-batch
    mask_ratio: Ratio = 0.7  # share of the training edges hidden and scored per epoch (MaskGAE's p)
    grad_norm: NonNegativeFloat = 1.0  # 0: no clipping


@dataclass
class LinkSlideOptions(WeightLearnerOptions, LinkFineTuneOptions):
    memory_size: NonNegativeInt = 512  # rows of the EMA memory of past batches


class LinkFineTune(Head):
    name = "link-full"
    description = "fine-tune the (slimmed) encoder and edge decoder on masked training edges, best validation AUC"
    tasks = (LINK,)
    Options = LinkFineTuneOptions
    quick = dict(epochs=3)

    def fit(self, encoder: nn.Module, data: Data, options: LinkFineTuneOptions, ctx: RunContext) -> dict[str, float]:
        from slide_plugin.heads.link_loop import fine_tune

        return fine_tune(encoder, data, options, ctx, reweighter=None, desc=self.name)


class LinkSlide(Head):
    name = "link-slide"
    description = "SLIDE for links: fine-tuning with edge representations de-correlated by sample re-weighting"
    tasks = (LINK,)
    default_slimmer = "half"
    Options = LinkSlideOptions
    quick = dict(epochs=3, epochb=5)

    def fit(self, encoder: nn.Module, data: Data, options: LinkSlideOptions, ctx: RunContext) -> dict[str, float]:
        from slide_plugin.heads.link_loop import fine_tune

        reweighter = make_reweighter(encoder.decoder.arch["in_dim"], options, ctx.device)
        return fine_tune(encoder, data, options, ctx, reweighter, desc=self.name)
