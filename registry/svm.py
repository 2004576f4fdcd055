"""GraphMAE's graph-classification evaluation: an SVM on frozen graph embeddings, its C chosen by inner
cross-validation on each training part, scored by k-fold cross-validation (``main_graph.py``,
``evaluate_graph_embeddings_using_svm``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import numpy as np

C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)  # GraphMAE's grid
INNER_FOLDS = 5  # GridSearchCV's default: unshuffled stratified folds of the training part


@dataclass(frozen=True)
class FoldScores:
    """Test accuracy of each outer fold (fractions), the C chosen in each, and the inner-validation accuracy."""

    accuracies: tuple[float, ...]
    chosen_c: tuple[float, ...]
    inner_accuracies: tuple[float, ...]

    def metrics(self) -> dict[str, float]:
        """Percentages: ``test_accuracy`` and ``test_accuracy_std``, the mean and population std over folds (as
        GraphMAE prints them), and ``val_accuracy``, the mean inner-validation accuracy of the chosen C."""
        from registry.metrics import fold_accuracy

        test = fold_accuracy([100 * a for a in self.accuracies])
        val = fold_accuracy([100 * a for a in self.inner_accuracies])
        return {"test_accuracy": test["accuracy"], "test_accuracy_std": test["accuracy_std"], "val_accuracy": val["accuracy"]}


def svm_cross_validation(embeddings: np.ndarray, labels: np.ndarray, folds: np.ndarray,
                         c_grid: Sequence[float] = C_GRID, inner_folds: int = INNER_FOLDS) -> FoldScores:
    """For each fold ``k`` of ``folds`` (each sample's test fold): fit an RBF ``SVC`` on the other folds with
    C chosen by ``inner_folds``-fold grid search over ``c_grid`` (ties: the smallest C), score fold ``k``."""
    import numpy as np
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    accuracies, chosen, inner = [], [], []
    for k in np.unique(folds):
        train, test = folds != k, folds == k
        search = GridSearchCV(SVC(), {"C": list(c_grid)}, cv=inner_folds)
        search.fit(embeddings[train], labels[train])
        accuracies.append(float((search.predict(embeddings[test]) == labels[test]).mean()))
        chosen.append(float(search.best_params_["C"]))
        inner.append(float(search.best_score_))
    return FoldScores(tuple(accuracies), tuple(chosen), tuple(inner))
