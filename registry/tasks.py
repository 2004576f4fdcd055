"""Tasks: what a dataset asks of a model and how its results are scored.

A :class:`Task` names what a dataset of that task provides, the metrics every head's ``fit`` returns
for it (``required_metrics``), the metrics tables show by default (``metrics``, with their labels) and
the one that comparisons use (``primary``). A dataset declares its task (``DatasetSpec.task``); heads
and pretrainers declare the tasks they support (``tasks``), and the runner refuses a cell whose
dataset's task its head or pretrainer does not support before anything loads or trains. Plugins add
tasks through ``register_tasks``; the core registers its three the same way. The evaluators are in
:mod:`registry.metrics` (:func:`~registry.metrics.f1_scores`, :func:`~registry.metrics.link_scores`,
:func:`~registry.metrics.fold_accuracy`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

from registry.hookspecs import hookimpl

NODE, LINK, GRAPH = "node-classification", "link-prediction", "graph-classification"
COST = ("trainable_params", "total_params")
#: the edge sets a link-prediction dataset provides beside its training ``edge_index``
LINK_FIELDS = ("val_pos_edge_index", "val_neg_edge_index", "test_pos_edge_index", "test_neg_edge_index",
               "test_edge_index")


@dataclass(frozen=True)
class Task:
    """A task: what its datasets provide and which metrics score it (all in percent)."""

    name: str
    description: str
    provides: str  # what a dataset's ``load(root, split_seed)`` returns for this task
    required_metrics: tuple[str, ...]  # every head's ``fit`` returns these, finite
    metrics: dict[str, str] = field(default_factory=dict)  # table columns by default: metric -> label
    primary: str = ""  # the metric ``compare`` and ``--mark-vs`` use by default
    check_data: Callable[[Any], None] | None = None  # raises ValueError when loaded data lacks what is promised
    kind: ClassVar[str] = "task"


def _check_node(data: Any) -> None:
    missing = [f for f in ("x", "edge_index", "y", "train_mask", "val_mask", "test_mask", "num_classes")
               if getattr(data, f, None) is None]
    if missing:
        raise ValueError(f"a node-classification dataset provides {', '.join(missing)}")


def _check_link(data: Any) -> None:
    missing = [f for f in ("x", "edge_index", *LINK_FIELDS) if getattr(data, f, None) is None]
    if missing:
        raise ValueError(f"a link-prediction dataset provides {', '.join(missing)}")


def _check_graphs(data: Any) -> None:
    if getattr(data, "num_classes", None) is None or not len(data):
        raise ValueError("a graph-classification dataset is a non-empty sequence of graphs with num_classes")


BUILTIN = (
    Task(NODE, "classify the nodes of one graph", "one graph with x, y and train/val/test node masks",
         ("test_micro_f1", "test_macro_f1", "val_micro_f1", *COST),
         {"test_micro_f1": "F1-Mi", "test_macro_f1": "F1-Ma"}, "test_micro_f1", _check_node),
    Task(LINK, "tell held-out edges from non-edges", "one graph whose edge_index holds the training edges only, "
         "with validation and test positive and negative edges and the edges visible at test time",
         ("test_auc", "test_ap", "val_auc", *COST), {"test_auc": "AUC", "test_ap": "AP"}, "test_auc", _check_link),
    Task(GRAPH, "classify whole graphs", "a sequence of graphs with num_classes (folds are made by the evaluation)",
         ("test_accuracy", "test_accuracy_std", "val_accuracy", *COST), {"test_accuracy": "ACC"}, "test_accuracy",
         _check_graphs),
)
BY_NAME = {task.name: task for task in BUILTIN}


def metric_labels(tasks: Any = BUILTIN) -> dict[str, str]:
    """Every task's table metrics and their labels, in registration order."""
    return {metric: label for task in tasks for metric, label in task.metrics.items()}


@hookimpl
def register_tasks(register: Callable[[Task], None]) -> None:
    for task in BUILTIN:
        register(task)
