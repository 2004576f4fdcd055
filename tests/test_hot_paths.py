"""The slim path is fast, not only small: slimmed encoders hold smaller dense tensors, the linear
probe embeds once, and per-epoch evaluation keeps labels on the device (only the scores come back)."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data
from tqdm import tqdm

from registry import RunContext
from registry.metrics import f1_scores
from slide_plugin.heads.linear import LinearOptions, LinearProbe
from registry.heads import FitTracker
from slide_plugin.pretrainers.graphmae import GraphMAE, GraphMAEOptions
from slide_plugin.pretrainers.graphmae_model import GraphMAEModel
from slide_plugin.slimming import BUILTIN

CPU = torch.device("cpu")
SLIMMERS = {s.name: s for s in BUILTIN}


class Recorder(torch.Tensor):
    """A tensor that records device moves and host read-backs made on it or on tensors computed from it."""

    calls: list[str] = []

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        kwargs = kwargs or {}
        moves_device = name == "to" and any(isinstance(a, (torch.device, str)) for a in (*args[1:], *kwargs.values()))
        if name in ("cpu", "cuda", "item", "tolist", "__float__", "__int__") or moves_device:
            cls.calls.append(name)
        return super().__torch_function__(func, types, args, kwargs)


def graph(n: int = 40, features: int = 12, classes: int = 3) -> Data:
    g = torch.Generator().manual_seed(0)
    mask = torch.arange(n)
    data = Data(x=torch.rand(n, features, generator=g), edge_index=torch.randint(0, n, (2, 4 * n), generator=g),
                y=torch.randint(0, classes, (n,), generator=g),
                train_mask=mask % 3 == 0, val_mask=mask % 3 == 1, test_mask=mask % 3 == 2)
    data.num_classes = classes
    return data


def encoder(in_dim: int = 12):
    return GraphMAEModel(in_dim, GraphMAEOptions(num_hidden=16, num_heads=2, in_drop=0.0, attn_drop=0.0)).encoder.eval()


def test_f1_scores_values():
    scores = f1_scores(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 0, 1, 1]), num_classes=2)
    assert scores["micro_f1"] == pytest.approx(75.0)
    assert scores["macro_f1"] == pytest.approx(100 * (2 / 3 + 0.8) / 2)


def test_evaluation_moves_labels_once_and_reads_back_one_vector_per_epoch():
    data = graph()
    data.y, data.val_mask, data.test_mask = (t.as_subclass(Recorder) for t in (data.y, data.val_mask, data.test_mask))
    tracker = FitTracker(CPU, data.num_classes)
    logits = torch.randn(data.num_nodes, data.num_classes).as_subclass(Recorder)
    tracker.evaluate(0, logits, data)
    Recorder.calls.clear()
    for epoch in range(1, 4):
        tracker.evaluate(epoch, logits, data)
    assert Recorder.calls == ["tolist"] * 3  # no .cpu()/.to(device) per epoch, one read-back of the four scores
    assert set(tracker.best.scores) == {"val_micro_f1", "val_macro_f1", "test_micro_f1", "test_macro_f1"}


def test_linear_probe_runs_the_encoder_once():
    data, model = graph(), encoder()
    calls = []
    model.register_forward_hook(lambda *args: calls.append(1))
    result = LinearProbe().fit(model, data, LinearOptions(epochs=4), RunContext(CPU))
    assert len(calls) == 1 and result["epochs"] == 4


@pytest.mark.parametrize("name, ratio", [("half", 2), ("quarter", 4)])
def test_slimmed_encoder_holds_smaller_dense_tensors(name, ratio):
    original = encoder()
    slim = SLIMMERS[name].slim(original, SLIMMERS[name].Options(), seed=0)
    for big, small in zip(original.blocks, slim.blocks):
        assert small.conv.lin.weight.shape[0] == big.conv.lin.weight.shape[0] // ratio
    assert slim.blocks[1].conv.lin.weight.shape[1] == original.blocks[1].conv.lin.weight.shape[1] // ratio
    assert slim(graph().x, graph().edge_index).shape == (40, original.embedding_dim // ratio)


def test_graphmae_reads_the_loss_only_for_a_visible_progress_bar(monkeypatch):
    """``loss.item()`` waits for the device every epoch; a quiet run must not pay for a bar nobody sees."""
    reads = []
    item = torch.Tensor.item
    monkeypatch.setattr(torch.Tensor, "item", lambda self: (self.grad_fn is not None and reads.append(1)) or item(self))
    options = GraphMAEOptions(num_hidden=8, num_heads=2, epochs=3)
    quiet = RunContext(CPU, progress=lambda iterable, **kwargs: tqdm(iterable, disable=True, **kwargs))
    GraphMAE().pretrain(graph(), options, quiet)
    assert reads == []
