"""Protocol options the built-in heads share (defaults = the official code, per pretrainer in each head's
``overrides``): the classifier's initialisation and, for SLIDE's weight learner, what its RFF map sees."""

from __future__ import annotations

from typing import Annotated

from registry import OneOf

# "xavier": Xavier-uniform weights, zero bias (official GRACE and MaskGAE); "default": nn.Linear's own (GraphMAE)
ClassifierInit = Annotated[str, OneOf("xavier", "default")]
# "raw": the embeddings (official); "standardised": per dimension over batch + memory; "l2": unit rows
RffInput = Annotated[str, OneOf("raw", "standardised", "l2")]

# Official GraphMAE evaluation (graphmae/evaluation.py): nn.Linear's default init; a validation tie keeps the later epoch
GRAPHMAE_PROTOCOL = dict(classifier_init="default", later_ties=True)
