"""Graph classification pieces: the SVM cross-validation evaluator against a hand-computed case, the
stratified folds, and the TU loader's features (one-hot degree for IMDB)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from registry.svm import C_GRID, svm_cross_validation
from registry.tudatasets import degree_features, stratified_folds


def two_clusters_with_two_flipped() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """40 samples in 10 folds of 4 (2 per cluster): cluster A near (0, 0) labelled 0, cluster B near (5, 5)
    labelled 1, except one sample of cluster A in fold 3 and one in fold 7, labelled 1."""
    rng = np.random.default_rng(0)
    folds = np.repeat(np.arange(10), 4)
    cluster = np.tile([0, 0, 1, 1], 10)
    x = cluster[:, None] * 5.0 + rng.normal(0, 0.01, (40, 2))
    y = cluster.copy()
    y[[12, 28]] = 1  # fold 3 and fold 7, first sample: in cluster A, labelled 1
    return x, y, folds


def test_svm_cross_validation_matches_hand_computed_accuracy():
    # Every flipped sample sits among cluster A's samples labelled 0 in its training folds (at most one
    # other flipped sample among 18), so it is misclassified and nothing else is: folds 3 and 7 score 3/4,
    # the other eight 4/4. Mean (8 * 1 + 2 * 0.75) / 10 = 95%; population std sqrt((8 * .05² + 2 * .2²) / 10) = 10%.
    x, y, folds = two_clusters_with_two_flipped()
    scores = svm_cross_validation(x, y, folds)
    assert scores.accuracies == (1, 1, 1, 0.75, 1, 1, 1, 0.75, 1, 1)
    metrics = scores.metrics()
    assert metrics["test_accuracy"] == pytest.approx(95.0)
    assert metrics["test_accuracy_std"] == pytest.approx(10.0)
    assert set(scores.chosen_c) <= set(C_GRID)


def test_svm_cross_validation_chooses_c_on_the_training_folds_only():
    """Labels that only a large C can fit (a small-margin, interleaved pattern): the inner search must pick
    a larger C than the smallest, and the choice depends on the grid it is given."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (200, 2))
    y = (np.sin(4 * x[:, 0]) > x[:, 1]).astype(int)
    folds = np.arange(200) % 10
    wide = svm_cross_validation(x, y, folds)
    narrow = svm_cross_validation(x, y, folds, c_grid=(1e-3,))
    assert min(wide.chosen_c) > 1e-3 and set(narrow.chosen_c) == {1e-3}
    assert wide.metrics()["test_accuracy"] > narrow.metrics()["test_accuracy"] + 10


def test_stratified_folds_are_seeded_and_stratified():
    labels = torch.tensor([0] * 60 + [1] * 40)
    folds = stratified_folds(labels, seed=3)
    assert torch.equal(folds, stratified_folds(labels, seed=3))
    assert not torch.equal(folds, stratified_folds(labels, seed=4))
    for k in range(10):
        assert torch.bincount(labels[folds == k], minlength=2).tolist() == [6, 4]


def test_degree_features_are_one_hot_capped_degrees():
    star = Data(edge_index=torch.tensor([[0, 0, 0, 1, 2, 3], [1, 2, 3, 0, 0, 0]]), num_nodes=4)
    pair = Data(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=3)  # node 2 isolated
    degree_features([star, pair], cap=2)
    assert star.x.argmax(1).tolist() == [2, 1, 1, 1]  # degree 3 capped at 2
    assert pair.x.argmax(1).tolist() == [1, 1, 0]
    assert star.x.shape == (4, 3) and float(star.x.sum()) == 4
