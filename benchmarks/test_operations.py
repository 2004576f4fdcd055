"""Single operations: slicing a pretrained encoder, embedding inference, CKA, and SLIDE's
weight-learning step (one call of the sample re-weighter on one mini-batch, as the head makes it)."""

from __future__ import annotations

import copy

import pytest
import torch

from benchmarks.conftest import bench_registry, encoder_for, resolve
from benchmarks.timing import label, time_calls
from registry.metrics import count_parameters

CHEAP = 4  # cheap operations get CHEAP × rounds rounds


def slimmed(encoder_name, dataset, slimmer_name, device):
    encoder, data = encoder_for(encoder_name, dataset, device)
    slimmer, options = resolve("slimmer", slimmer_name, dataset, encoder_name)
    return slimmer.slim(copy.deepcopy(encoder), options, 0).eval(), data


@torch.no_grad()
def embed(encoder, data):
    return encoder.eval()(data.x, data.edge_index)


def test_slice(benchmark, encoder_name, dataset, slimmer_name, device, torch_device, rounds):
    encoder, _ = encoder_for(encoder_name, dataset, device)
    slimmer, options = resolve("slimmer", slimmer_name, dataset, encoder_name)
    label(benchmark, "slice", f"{encoder_name} {dataset} {device}", encoder=encoder_name, dataset=dataset,
          device=device, slimmer=slimmer.name)
    slim = time_calls(benchmark, lambda: slimmer.slim(encoder, options, 0), torch_device, CHEAP * rounds)
    benchmark.extra_info.update(encoder_params=count_parameters(slim), original_params=count_parameters(encoder))


def test_embed(benchmark, encoder_name, dataset, slimmer_name, device, torch_device, rounds):
    encoder, data = slimmed(encoder_name, dataset, slimmer_name, device)
    label(benchmark, "embed", f"{encoder_name} {dataset} {device}", encoder=encoder_name, dataset=dataset,
          device=device, slimmer=slimmer_name)
    z = time_calls(benchmark, lambda: embed(encoder, data), torch_device, rounds)
    benchmark.extra_info.update(encoder_params=count_parameters(encoder), embedding_dim=z.size(1))


def test_cka(benchmark, encoder_name, dataset, slimmer_name, device, torch_device, rounds):
    cka = pytest.importorskip("slide_plugin.cka")
    original, data = encoder_for(encoder_name, dataset, device)
    encoder, _ = slimmed(encoder_name, dataset, slimmer_name, device)
    x, y = embed(original, data), embed(encoder, data)
    label(benchmark, "cka", f"{encoder_name} {dataset} {device}", encoder=encoder_name, dataset=dataset,
          device=device, slimmer=slimmer_name)
    time_calls(benchmark, lambda: cka.linear_cka(x, y), torch_device, rounds)
    benchmark.extra_info.update(shapes=[list(x.shape), list(y.shape)])


def test_weight_learning_step(benchmark, encoder_name, dataset, device, torch_device, rounds):
    decorrelation = pytest.importorskip("slide_plugin.decorrelation")
    if "slide" not in bench_registry().names("head"):
        pytest.skip("no 'slide' head registered")
    head, o = resolve("head", "slide", dataset, encoder_name)
    encoder, data = slimmed(encoder_name, dataset, head.default_slimmer, device)
    train = data.train_mask.nonzero().view(-1)[: o.batch_size]
    z = embed(encoder, data)[train]
    reweighter = decorrelation.SampleReweighter(
        z.size(1), o.memory_size, o.lrbl, o.epochb, o.presave_ratio, o.lambda0, o.lambda_decay_rate,
        o.lambda_decay_epoch, num_f=o.num_rff, decay_pow=o.decay_pow, device=torch_device)
    label(benchmark, "weight-learning", f"{encoder_name} {dataset} {device}", encoder=encoder_name, dataset=dataset,
          device=device, slimmer=head.default_slimmer)
    time_calls(benchmark, lambda: reweighter(z, 1 + o.lambda_epoch_offset), torch_device, CHEAP * rounds)
    benchmark.extra_info.update(batch=z.size(0), dim=z.size(1), memory=o.memory_size, inner_steps=o.epochb)
