"""Per-epoch fine-tuning: every registered head on every slimming strategy, through ``Head.fit``.

An epoch is one pass of the head's own epoch loop (its training steps and its per-epoch evaluation),
timed by :class:`~benchmarks.stepper.EpochStepper`; setup (embedding once for the linear probe,
optimisers) and wrap-up are not part of it. ``tracker_epoch_time_s`` in ``extra_info`` is the
head's own median training-step time per epoch (FitTracker, evaluation excluded), as a cross-check;
``epochs_per_run`` the head's official number of epochs (the report's time per official run).
"""

from __future__ import annotations

import copy

from benchmarks.conftest import encoder_for, resolve
from benchmarks.timing import WARMUP, label, time_epochs
from registry.metrics import count_parameters


def test_finetune_epoch(benchmark, encoder_name, dataset, slimmer_name, head_name, device, torch_device, rounds):
    encoder, data = encoder_for(encoder_name, dataset, device)
    slimmer, slim_options = resolve("slimmer", slimmer_name, dataset, encoder_name)
    slim = slimmer.slim(copy.deepcopy(encoder), slim_options, 0).to(torch_device)
    head, options = resolve("head", head_name, dataset, encoder_name, epochs=WARMUP + rounds)
    official = resolve("head", head_name, dataset, encoder_name)[1]
    label(benchmark, "finetune-epoch", f"{encoder_name} {dataset} {device}", encoder=encoder_name, dataset=dataset,
          device=device, head=head.name, slimmer=slimmer.name)
    benchmark.extra_info.update(encoder_params=count_parameters(slim), original_params=count_parameters(encoder))
    result = time_epochs(benchmark, lambda ctx: head.fit(slim, data, options, ctx), torch_device, rounds)
    benchmark.extra_info.update(trainable_params=result.get("trainable_params"),
                                tracker_epoch_time_s=result.get("epoch_time_s"),
                                steps_per_epoch=result["steps"] / result["epochs"] if result.get("steps") else None,
                                epochs_per_run=getattr(official, "epochs", None))
