"""Redundancy analysis (paper Figures 2, 3, 6 and Tables 8, 9): how similar slim models stay to the
original, how similar adjacent layers are, and what each slimming strategy leaves to fine-tune.

Representations are taken in eval mode on the first ``max_nodes`` nodes (10,000 in the paper),
and compared with linear CKA (:func:`slide_plugin.cka.linear_cka`).

Removal scopes for :func:`slim_vs_original` (Figure 2):

- ``"all"``: every layer loses ``rate`` of its neurons (the paper's "all");
- ``"l1"``, ``"l2"``, ...: only that layer loses ``rate`` of its neurons, the others keep theirs.

For every scope and rate, the CKA of every layer's output with the same layer of the original is
recorded, so both readings of the figure's "l1, l2" curves (the layer that is measured, or the
layer that is slimmed) are in the records.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from registry.components import Pretrainer, Slimmer
from registry.errors import ConfigError
from registry.heads import make_classifier
from registry.metrics import count_parameters
from registry.slimming import slim_encoder
from slide_plugin.cka import linear_cka

RATES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def _check_layered(encoder: nn.Module) -> None:
    if not (hasattr(encoder, "layer_outputs") and hasattr(encoder, "slimmed")):
        raise ConfigError(f"{type(encoder).__name__} exposes no per-layer outputs ('layer_outputs' and "
                          f"'slimmed'), so its layers cannot be compared")


@torch.no_grad()
def layer_representations(encoder: nn.Module, x: Tensor, edge_index: Tensor, max_nodes: int) -> list[Tensor]:
    """Every layer's output ``[min(N, max_nodes), d_l]`` in eval mode (the full graph is propagated;
    the rows kept are copied so the full-graph outputs can be freed)."""
    encoder.eval()
    return [h[:max_nodes].clone() for h in encoder.layer_outputs(x, edge_index)]


def slim_vs_original(encoder: nn.Module, x: Tensor, edge_index: Tensor, rates: Sequence[float] = RATES,
                     selection: str = "stride", seed: int = 0, max_nodes: int = 10_000) -> list[dict[str, Any]]:
    """CKA between each layer of slimmed copies of ``encoder`` and the same layer of ``encoder``.

    Returns one record per (scope, rate, layer): ``scope`` ("all", "l1", ...), ``rate`` (share of
    neurons removed), ``layer`` (1-based), ``cka`` and the slim encoder's ``encoder_params``.
    """
    _check_layered(encoder)
    if any(not 0 <= r < 1 for r in rates):
        raise ConfigError(f"removal rates must be in [0, 1), got {list(rates)}")
    reference = layer_representations(encoder, x, edge_index, max_nodes)
    depth = len(reference)
    scopes = ["all"] + ([f"l{i + 1}" for i in range(depth)] if depth > 1 else [])
    records = []
    for rate in rates:
        for scope in scopes:
            ratios = [1.0 - rate if scope in ("all", f"l{i + 1}") else 1.0 for i in range(depth)]
            slim = slim_encoder(encoder, ratios, None, selection, seed)
            params = count_parameters(slim)
            for layer, (h, ref) in enumerate(zip(layer_representations(slim, x, edge_index, max_nodes), reference)):
                records.append(dict(scope=scope, rate=float(rate), layer=layer + 1, cka=linear_cka(h, ref),
                                    encoder_params=params))
    return records


def adjacent_layers(encoder: nn.Module, x: Tensor, edge_index: Tensor, max_nodes: int = 10_000) -> list[dict[str, Any]]:
    """CKA between the input features and layer 1, and between every layer and the next (Figure 3).

    One record per pair: ``source``/``target`` (0 = input features, l = layer l) and ``cka``.
    """
    _check_layered(encoder)
    reps = [x[:max_nodes]] + layer_representations(encoder, x, edge_index, max_nodes)
    return [dict(source=i, target=i + 1, cka=linear_cka(reps[i], reps[i + 1])) for i in range(len(reps) - 1)]


def embedding_dim(encoder: nn.Module, data: Data) -> int:
    """The encoder's output width (``embedding_dim`` if it declares one, else from a forward pass)."""
    if hasattr(encoder, "embedding_dim"):
        return int(encoder.embedding_dim)
    with torch.no_grad():
        return int(encoder.eval()(data.x, data.edge_index).size(1))


def parameter_rows(pretrainer: Pretrainer, options: Any, data: Data,
                   slimmers: Sequence[tuple[Slimmer, Any]], seed: int = 0) -> list[dict[str, Any]]:
    """Tables 8/9: per slimming strategy, the frozen GNN's parameters and the fine-tunable linear
    classifier's (``embedding_dim × C + C``; None for data without classes, such as a link-prediction
    graph), counted on real (untrained) modules built from the pretrainer's options, and the GNN's
    change against the unslimmed encoder in percent."""
    encoder = pretrainer.init_encoder(data, options)
    if encoder is None:
        raise ConfigError(f"pretrainer '{pretrainer.name}' cannot build an untrained encoder (no 'init_encoder')")
    original = count_parameters(encoder)
    rows = []
    for slimmer, slim_options in slimmers:
        slim = slimmer.slim(encoder, slim_options, seed)
        gnn, dim = count_parameters(slim), embedding_dim(slim, data)
        classes = getattr(data, "num_classes", None)
        linear = count_parameters(make_classifier(dim, classes)) if classes else None
        rows.append(dict(slimmer=slimmer.name, gnn_params=gnn, linear_params=linear,
                         gnn_change_pct=100.0 * (gnn - original) / original, embedding_dim=dim,
                         num_features=int(data.num_features), num_classes=int(classes) if classes else None))
    return rows
