"""Per-epoch pretraining: every registered pretrainer, and the plain PyG references of GraphMAE, GRACE
and MaskGAE (benchmarks/reference.py) on the same configuration, in the same group."""

from __future__ import annotations

import pytest

from benchmarks.conftest import load, resolve
from benchmarks.reference import plain_pretrain
from benchmarks.timing import WARMUP, label, time_epochs
from registry.metrics import count_parameters


def test_pretrain_epoch(benchmark, pretrainer_name, dataset, device, torch_device, rounds):
    pretrainer, options = resolve("pretrainer", pretrainer_name, dataset, pretrainer_name, epochs=WARMUP + rounds)
    data = pretrainer.prepare(load(dataset), options)
    label(benchmark, "pretrain-epoch", f"{dataset} {device}", pretrainer=pretrainer.name, impl="slide-bench",
          dataset=dataset, device=device)
    benchmark.extra_info["epochs_per_run"] = resolve("pretrainer", pretrainer_name, dataset, pretrainer_name)[1].epochs
    encoder = time_epochs(benchmark, lambda ctx: pretrainer.pretrain(data, options, ctx), torch_device, rounds)
    benchmark.extra_info["encoder_params"] = count_parameters(encoder)


@pytest.mark.plain_reference
def test_pretrain_epoch_plain_pyg(benchmark, pretrainer_name, dataset, device, torch_device, rounds):
    pretrainer, options = resolve("pretrainer", pretrainer_name, dataset, pretrainer_name, epochs=WARMUP + rounds)
    if pretrainer_name == "grace" and getattr(options, "loss_batch_size", 0) > 0:
        pytest.skip("the plain GRACE reference computes the full N x N similarity; this configuration blocks it")
    data = pretrainer.prepare(load(dataset), options)
    label(benchmark, "pretrain-epoch", f"{dataset} {device}", pretrainer=pretrainer.name, impl="plain-pyg",
          dataset=dataset, device=device)
    benchmark.extra_info["epochs_per_run"] = resolve("pretrainer", pretrainer_name, dataset, pretrainer_name)[1].epochs
    model = time_epochs(benchmark, lambda ctx: plain_pretrain(pretrainer.name, data, options, ctx), torch_device, rounds)
    benchmark.extra_info["model_params"] = count_parameters(model)
