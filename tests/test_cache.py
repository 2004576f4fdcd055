"""The pretrained-encoder cache: round trip, and keys that change with the pretrainer's version."""

from __future__ import annotations

import torch

from registry.cache import EncoderCache
from registry.plugins import build_registry
from registry.runner import Cell, Runner
from registry.store import ResultsStore
from slide_plugin.nn import GATBlock, StackEncoder


def test_round_trip_and_second_call_does_not_pretrain(tmp_path):
    cache, calls = EncoderCache(tmp_path), []

    def pretrain():
        calls.append(1)
        return StackEncoder([GATBlock(5, 3, heads=2)])

    args = ("Toy", "p", "1", {"epochs": 1}, 0, StackEncoder.from_arch, pretrain, torch.device("cpu"))
    first, cached_first = cache.get_or_pretrain(*args)
    second, cached_second = cache.get_or_pretrain(*args)
    assert (cached_first, cached_second, len(calls)) == (False, True, 1)
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)


def test_a_new_pretrainer_version_misses_the_cache_and_the_store(tmp_path, monkeypatch):
    """Regression: a code change that alters results (GraphMAE's initialisation) kept serving encoders
    pretrained by the old code, because only the options keyed the cache."""
    cache = EncoderCache(tmp_path)
    assert cache.path("Cora", "graphmae", "1", {}, 0) != cache.path("Cora", "graphmae", "2", {}, 0)
    registry = build_registry()
    runner = Runner(registry, ResultsStore(tmp_path / "s.sqlite"), cache, torch.device("cpu"))
    cell = Cell("Cora", "graphmae", preset="quick")
    before = runner.resolve(cell).key
    monkeypatch.setattr(type(registry.get("pretrainer", "graphmae")), "version", "999")
    assert runner.resolve(cell).key != before
