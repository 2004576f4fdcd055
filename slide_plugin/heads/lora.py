"""LoRA heads (the paper's Table 11): low-rank adapters on the encoder's linear maps, encoder frozen.

Both heads run the SLIDE training loop (:func:`~slide_plugin.heads.slide_loop.train_reweighted`) with the
encoder's own weights frozen and its second Adam optimiser on the adapters only:

- ``lora``: plain cross-entropy (``decorrelation=False``). On the original encoder this is "LoRA";
  with a slimmer (``--slim 2-half``) it is "Slim-LoRA".
- ``slide-lora``: adapters trained with SLIDE's de-correlation re-weighted loss on the 2-half model
  ("SLIDE-LoRA").

Mini-batch size, epochs, classifier optimiser and re-weighting settings are SLIDE's per-dataset ones,
so LoRA vs SLIDE-LoRA differ only in the re-weighting. ``encoder_lr``/``encoder_weight_decay`` are
the adapters' Adam settings: the paper gives none (no LoRA code was released) and SLIDE's near-zero
encoder rates would leave zero-initialised adapters at zero, so they default to 1e-3 / 0.
``rank=0`` adds no adapter: the encoder stays frozen and only the classifier trains (a mini-batch
linear probe on the encoder's embeddings in ``encoder_train_mode``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from registry import Head, PositiveFloat, RunContext
from slide_plugin.heads.search import AdapterLearningRate, Rank, WeightDecay
from slide_plugin.heads.slide import SLIDE_OVERRIDES, SlideOptions

if TYPE_CHECKING:
    from torch import nn
    from torch_geometric.data import Data


@dataclass
class LoraOptions(SlideOptions):
    encoder_lr: AdapterLearningRate = 1e-3  # adapters' Adam learning rate
    encoder_weight_decay: WeightDecay = 0.0
    decorrelation: bool = False
    rank: Rank = 8  # 0: no adapters (a linear probe in SLIDE's loop)
    alpha: PositiveFloat = 16.0


@dataclass
class SlideLoraOptions(LoraOptions):
    decorrelation: bool = True


LORA_OVERRIDES = {key: {k: v for k, v in values.items() if not k.startswith("encoder_") or k == "encoder_train_mode"}
                  for key, values in SLIDE_OVERRIDES.items()}


class LoraHead(Head):
    name = "lora"
    version = "4"  # 4: GraphMAE's later-epoch ties, nn.Linear init; 3: layer-wise receptive fields; 2: CSR features
    description = "LoRA: low-rank adapters on the frozen encoder's linear maps + linear classifier (mini-batch)"
    Options = LoraOptions
    overrides = LORA_OVERRIDES
    quick = dict(epochs=5, epochb=5)

    def fit(self, encoder: nn.Module, data: Data, options: LoraOptions, ctx: RunContext) -> dict[str, float]:
        from slide_plugin.heads.slide_loop import train_reweighted  # torch loads when a head runs
        from slide_plugin.lora import apply_lora

        adapters = apply_lora(encoder, options.rank, options.alpha)
        return train_reweighted(encoder, data, options, ctx, adapters, desc=self.name)


class SlideLoraHead(LoraHead):
    name = "slide-lora"
    description = "SLIDE-LoRA: LoRA adapters on the slimmed encoder trained with SLIDE's re-weighted loss"
    default_slimmer = "2-half"
    Options = SlideLoraOptions
