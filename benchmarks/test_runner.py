"""The matrix runner's overhead per run: everything but training (resolution, the store, the
encoder cache, feature preparation, slimming, seeding), measured with a head that does not train."""

from __future__ import annotations

from typing import Any

from benchmarks import synthetic
from benchmarks.conftest import datasets_root
from benchmarks.timing import label, time_calls
from registry import DatasetSpec, Head
from registry.cache import EncoderCache
from registry.plugins import build_registry
from registry.runner import Cell, Runner
from registry.store import ResultsStore

CHEAP = 4


class NoTrainingHead(Head):
    name = "bench-no-training"
    description = "returns fixed metrics at once (benchmarks the runner's own overhead)"

    def fit(self, encoder: Any, data: Any, options: Any, ctx: Any) -> dict[str, float]:
        return dict(test_micro_f1=0.0, test_macro_f1=0.0, val_micro_f1=0.0, trainable_params=0, total_params=0)


def test_runner_overhead(benchmark, tmp_path, encoder_name, dataset, device, torch_device, rounds):
    registry = build_registry()
    registry.add("head", NoTrainingHead(), "benchmarks")
    if dataset == synthetic.NAME:
        registry.add("dataset", DatasetSpec(synthetic.NAME, lambda root, split_seed=0: synthetic.arxiv_sized_graph()),
                     "benchmarks")
    runner = Runner(registry, ResultsStore(tmp_path / "results.sqlite"), EncoderCache(tmp_path / "encoders"),
                    torch_device, data_root=datasets_root(), quiet=True)
    slimmer = "half" if "half" in registry.names("slimmer") else "original"
    cell = Cell(dataset, encoder_name, slimmer, NoTrainingHead.name, sets=(("pretrain", "epochs", 1),))
    runner.run([cell])  # loads the dataset and fills the encoder cache
    label(benchmark, "runner-overhead", f"{dataset} {device}", encoder=encoder_name, dataset=dataset, device=device,
          slimmer=slimmer)
    time_calls(benchmark, lambda: runner.run([cell], force=True), torch_device, CHEAP * rounds)
    assert runner.store.frame()["status"].tolist() == ["ok"]
