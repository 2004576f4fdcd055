"""SLIDE's sample-weight learner as head options, shared by the node, link and graph SLIDE heads
(paper.md §1b; the learner itself: :class:`~slide_plugin.decorrelation.SampleReweighter`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from registry import Count, NonNegativeInt, PositiveFloat
from slide_plugin.heads.protocol import RffInput
from slide_plugin.heads.search import InnerSteps, LambdaDecay, Lambda0, MemoryRatio, WeightLearningRate

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from slide_plugin.decorrelation import SampleReweighter


@dataclass
class WeightLearnerOptions:
    """The weight learner's settings; a head's options inherit them (and may change ``memory_size``'s default)."""

    decorrelation: bool = True  # False: "w/o de (same loop)", every weight 1
    memory_size: NonNegativeInt = 64  # M rows of the EMA memory of past batches; 0: none
    lambda0: Lambda0 = 0.1  # de-correlation strength: balance loss / λ(e), smaller = stronger
    lambda_decay_rate: LambdaDecay = 1.0  # ρ in λ(e) = λ0 · max(ρ^⌊e/E_d⌋, 0.01)
    lambda_decay_epoch: Count = 5  # E_d
    num_rff: Count = 1  # Fourier functions per embedding dimension
    lrbl: WeightLearningRate = 1.0  # SGD learning rate of the weight logits
    epochb: InnerSteps = 20  # inner SGD steps per mini-batch
    presave_ratio: MemoryRatio = 0.9  # EMA ratio of the memory update
    decay_pow: PositiveFloat = 2.0  # power of the Σ softmax(θ)^q regulariser
    rff_input: RffInput = "raw"  # what the RFF map sees: "raw" (official), "standardised", "l2"


def make_reweighter(dim: int, options: WeightLearnerOptions, device: torch.device,
                    class_mass: bool = False) -> SampleReweighter | None:
    """The learner for embeddings of width ``dim`` (``class_mass``: see
    :class:`~slide_plugin.decorrelation.SampleReweighter`); None when ``options.decorrelation`` is off."""
    from slide_plugin.decorrelation import SampleReweighter

    if not options.decorrelation:
        return None
    return SampleReweighter(dim, options.memory_size, options.lrbl, options.epochb, options.presave_ratio,
                            options.lambda0, options.lambda_decay_rate, options.lambda_decay_epoch,
                            num_f=options.num_rff, decay_pow=options.decay_pow, rff_input=options.rff_input,
                            class_mass=class_mass, device=device)


def reweighted_loss(losses: Tensor, z: Tensor, reweighter: SampleReweighter | None, epoch: int,
                    stats: list[dict[str, Tensor]] | None = None, labels: Tensor | None = None,
                    num_classes: int = 0) -> Tensor:
    """Σ w·ℓ / Σ w of the per-sample ``losses [b]`` with the weights learnt on the batch's representations
    ``z [b, d]`` (detached) at weight-learner epoch ``epoch`` (and the batch's class ``labels [b]`` of
    ``num_classes`` classes, when given: see :class:`~slide_plugin.decorrelation.SampleReweighter`), the
    diagnostics appended to ``stats``; the plain mean without a ``reweighter`` (w/o de, or SLIDE's first epoch)."""
    if reweighter is None:
        return losses.mean()
    weights, diagnostics = reweighter(z.detach(), epoch, labels, num_classes)
    if stats is not None:
        stats.append(diagnostics)
    return (weights * losses).sum() / weights.sum()
