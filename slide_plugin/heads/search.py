"""What ``slide-bench tune`` tries for the built-in heads' options: one search space per kind of option,
shared by every head so that compared heads are tuned over the same ranges. Each range covers every
official per-dataset value of the built-in pretrainers except ogbn-arxiv's SLIDE batch sizes and
weight decays that are not one of the listed values."""

from __future__ import annotations

from typing import Annotated

from registry.options import Choice, Count, Fraction, NonNegativeFloat, NonNegativeInt, PositiveFloat, Search

LearningRate = Annotated[PositiveFloat, Search(1e-3, 1.0, log=True)]  # classifier (and linear probe)
EncoderLearningRate = Annotated[PositiveFloat, Search(1e-8, 1e-3, log=True)]  # a pretrained encoder's weights
AdapterLearningRate = Annotated[PositiveFloat, Search(1e-5, 1e-2, log=True)]  # LoRA adapters (start at zero)
WeightDecay = Annotated[NonNegativeFloat, Choice(0.0, 1e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1)]
Epochs = Annotated[Count, Search(50, 1000, log=True)]
# SLIDE's own hyper-parameters (paper.md §1b; official values: λ0 0.01–30, lrbl 0.075–180, epochb 10–30)
Lambda0 = Annotated[PositiveFloat, Search(1e-3, 30.0, log=True)]
WeightLearningRate = Annotated[PositiveFloat, Search(0.05, 200.0, log=True)]
InnerSteps = Annotated[Count, Search(5, 40)]
MemoryRatio = Annotated[Fraction, Search(0.5, 1.0)]
LambdaDecay = Annotated[PositiveFloat, Search(0.01, 3.0, log=True)]
Rank = Annotated[NonNegativeInt, Choice(2, 4, 8, 16)]
