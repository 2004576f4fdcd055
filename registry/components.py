"""What plugins register: pretrainers, slimming strategies, fine-tune heads and datasets.

Each component is an instance of one of the abstract classes below. It carries a ``name``, a
one-line ``description`` and a nested ``Options`` dataclass whose typed fields are its options.
``overrides`` holds per-dataset defaults (keys ``"Cora"``), per-pretrainer-and-dataset defaults
(keys ``"graphmae/Cora"``) or defaults for one slimmer too (keys ``"maskgae/Cora/half"``, winning over
the others), taken from the official configurations; ``quick`` holds the values of
the ``quick`` preset used for smoke runs and tests.

The encoder contract between components: a pretrainer returns a ``torch.nn.Module`` whose
``forward(x, edge_index)`` returns node embeddings ``[num_nodes, dim]``, whose ``embedding_dim``
attribute is ``dim`` (heads size their classifier with it) and whose ``arch`` attribute is a
JSON-serialisable dict from which :meth:`Pretrainer.build_encoder` rebuilds it. An encoder that also
implements :class:`registry.slimming.SlimmableEncoder` works with every slimmer; one that does not
works with ``original`` only. The runner checks these after each call and stops with one line naming
the plugin when a component breaks them.

Registering checks each component at once (:mod:`registry.checks`): an instance of the right base
class, ``Options`` a dataclass whose defaults build, ``quick`` and ``overrides`` naming options that
exist. A complete example of each kind is in the README, "Writing a plugin".
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar

if TYPE_CHECKING:  # the core stays importable without torch: `slide-bench --help` starts at once
    import torch
    from torch import nn
    from torch_geometric.data import Data


@dataclass
class NoOptions:
    """Options of a component that has none."""


@dataclass
class RunContext:
    """What a component needs to know about the run it takes part in.

    ``seed`` seeds the component's own randomness; ``progress`` wraps an iterable of epochs in a
    progress bar (it is the identity in quiet mode); ``log`` records per-epoch diagnostics that the
    results store keeps beside the run's metrics.
    """

    device: torch.device
    seed: int = 0
    progress: Callable[..., Any] = lambda iterable, **kwargs: iterable
    diagnostics: list[dict[str, Any]] = field(default_factory=list)

    def log(self, **values: Any) -> None:
        self.diagnostics.append(values)


class Component(ABC):
    """Base of every registered object: a name, a description and typed options."""

    kind: ClassVar[str] = "component"
    name: ClassVar[str]
    description: ClassVar[str] = ""
    version: ClassVar[str] = "1"  # bump when results change for the same options: keys caches and stored runs
    Options: ClassVar[type] = NoOptions
    overrides: ClassVar[dict[str, dict[str, Any]]] = {}
    quick: ClassVar[dict[str, Any]] = {}

    def default_options(self) -> Any:
        return self.Options()

    def option_names(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self.Options)]


class Pretrainer(Component):
    """Self-supervised pretraining of a GNN encoder on a dataset of one of its ``tasks``."""

    kind = "pretrainer"
    tasks: ClassVar[tuple[str, ...]] = ("node-classification",)  # the tasks whose datasets it pretrains on

    def prepare(self, data: Data, options: Any) -> Data:
        """Pretrainer-specific preprocessing (feature scaling), applied before pretraining and fine-tuning."""
        return data

    @abstractmethod
    def pretrain(self, data: Data, options: Any, ctx: RunContext) -> nn.Module:
        """Pretrain and return the encoder (on ``ctx.device``), following the encoder contract.

        ``data`` is what :meth:`prepare` returned; ``ctx.seed`` is already applied to torch's global RNG.
        """

    #: the encoder class, when ``Encoder(**arch)`` rebuilds an encoder (the default :meth:`build_encoder`)
    Encoder: ClassVar[type | None] = None

    def build_encoder(self, arch: dict[str, Any]) -> nn.Module:
        """Rebuild an (untrained) encoder from its ``arch`` dict, for loading cached weights; by default
        ``Encoder(**arch)``. A pretrainer overrides this or sets ``Encoder``."""
        if self.Encoder is None:
            raise NotImplementedError(f"pretrainer '{self.name}' sets no Encoder class and does not override build_encoder")
        return self.Encoder(**arch)

    def init_encoder(self, data: Data, options: Any) -> nn.Module | None:
        """Optional: an untrained encoder of the architecture :meth:`pretrain` would return for this
        (prepared) data and these options, or None (the default) when it cannot be built without training.

        With it, the runner checks each slimmer against the encoder before any training (a slimmer
        that cannot take it stops the run with one line, instead of failing after pretraining), and
        ``slide-bench analyze params`` can count parameters without pretraining.
        """
        return None


class Slimmer(Component):
    """A slimming strategy: a pretrained encoder in, a smaller encoder out (weights copied)."""

    kind = "slimmer"

    @abstractmethod
    def slim(self, encoder: nn.Module, options: Any, seed: int) -> nn.Module:
        """Return a new encoder (never ``encoder`` itself, which stays untouched: it is the cached one).

        :param encoder: follows the encoder contract; use :func:`registry.slimming.slim_encoder` to
            slim any :class:`registry.slimming.SlimmableEncoder` by units and layers.
        :param options: an instance of this slimmer's ``Options``.
        :param seed: the run's pretraining seed, for seeded selections.
        A ``ValueError``/``TypeError`` (an encoder this slimmer cannot take) stops the run with one line.
        """


#: What every node-classification head's ``fit`` returns (finite numbers); other tasks: :mod:`registry.tasks`.
REQUIRED_METRICS = ("test_micro_f1", "test_macro_f1", "val_micro_f1", "trainable_params", "total_params")


class Head(Component):
    """A fine-tuning protocol for the datasets of its ``tasks``: trains a predictor (and maybe the
    encoder) and reports metrics.

    A run whose metrics lack one its task requires (:attr:`registry.tasks.Task.required_metrics`) or one
    of the head's own ``required_metrics``, or hold a non-finite number, is stored as ``failed``, never
    ``ok`` (:mod:`registry.numerics`)."""

    kind = "head"
    default_slimmer: ClassVar[str] = "original"  # used when a run names no slimming strategy
    tasks: ClassVar[tuple[str, ...]] = ("node-classification",)  # the tasks whose datasets it fine-tunes on
    required_metrics: ClassVar[tuple[str, ...]] = ()  # required beyond the task's own

    @abstractmethod
    def fit(self, encoder: nn.Module, data: Data, options: Any, ctx: RunContext) -> dict[str, float]:
        """Fine-tune on the training part of ``data``, select on its validation part, score its test part
        (node classification: ``data.train_mask``, ``val_mask``, ``test_mask``; other tasks: :mod:`registry.tasks`).

        :param encoder: the head's private copy (the slimmer's output, on ``ctx.device``, in eval
            mode): train it in place, wrap it, or leave it frozen; the cached encoder is never handed out.
        :param data: the dataset as the pretrainer prepared it, on the CPU (move what you use).
        :param options: an instance of this head's ``Options``.
        :param ctx: the device, the seed (already applied to torch's RNG), progress bars, ``ctx.log``.
        :returns: at least the task's required metrics, for node classification ``test_micro_f1``,
            ``test_macro_f1``, ``val_micro_f1`` (percentages at the best-validation epoch),
            ``trainable_params`` and ``total_params``; budget heads add ``epochs``,
            ``steps`` and ``samples_seen``. :class:`registry.heads.FitTracker` records all of these.
        """


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset of one ``task`` (a registered :class:`registry.tasks.Task` name): ``load(root, split_seed)``
    returns what the task provides; for node classification a PyG ``Data`` with ``x``, ``edge_index``,
    ``y``, boolean ``train_mask``/``val_mask``/``test_mask`` and ``num_classes``. ``root`` is a
    writable folder laid out as the PyG/OGB loaders expect."""

    name: str
    load: Callable[..., Any]
    description: str = ""
    task: str = "node-classification"
    kind: ClassVar[str] = "dataset"
