"""The pretrained-encoder cache: round trip, and keys that change with the pretrainer's version."""

from __future__ import annotations

import pytest
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


def _args(pretrain, seed=0):
    return ("Toy", "p", "1", {"epochs": 1}, seed, StackEncoder.from_arch, pretrain, torch.device("cpu"))


def _encoder():
    torch.manual_seed(0)
    return StackEncoder([GATBlock(5, 3, heads=2)])


def _tamper_tensor(path):
    state = torch.load(path, weights_only=True)
    name = next(iter(state["state_dict"]))
    state["state_dict"][name].view(-1)[0] += 1.0
    torch.save(state, path)


def _overwrite_bytes(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = b"\x00" * 64
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage, reason", [
    (_tamper_tensor, "checksum mismatch"),
    (_overwrite_bytes, ""),
    (lambda path: path.write_bytes(path.read_bytes()[:100]), ""),
    (lambda path: path.write_bytes(b""), ""),
    (lambda path: path.write_bytes(b"not a torch file"), ""),
])
def test_a_damaged_file_is_set_aside_and_pretrained_again(tmp_path, capsys, damage, reason):
    """Regression: altered bytes loaded as is (a wrong score stored as ok); a torn file failed with a bare
    EOFError and was never recomputed."""
    cache, calls = EncoderCache(tmp_path), []

    def pretrain():
        calls.append(1)
        return _encoder()

    first, _ = cache.get_or_pretrain(*_args(pretrain))
    path = cache.path("Toy", "p", "1", {"epochs": 1}, 0)
    damage(path)
    capsys.readouterr()
    again, cached = cache.get_or_pretrain(*_args(pretrain))
    err = capsys.readouterr().err
    assert (cached, len(calls)) == (False, 2)
    assert err.count("\n") == 1 and f"cached encoder {path} is damaged" in err and reason in err
    aside = list(tmp_path.glob(path.name + ".bad-*"))
    assert len(aside) == 1 and aside[0].name in err  # set aside, never deleted
    for a, b in zip(first.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    assert cache.get_or_pretrain(*_args(pretrain))[1] is True  # the new file is intact


def test_another_encoders_file_under_this_name_is_refused(tmp_path, capsys):
    cache = EncoderCache(tmp_path)
    cache.get_or_pretrain(*_args(_encoder, seed=1))
    cache.get_or_pretrain(*_args(_encoder, seed=0))
    mine, other = cache.path("Toy", "p", "1", {"epochs": 1}, 0), cache.path("Toy", "p", "1", {"epochs": 1}, 1)
    other.replace(mine)
    capsys.readouterr()
    calls = []
    cache.get_or_pretrain(*_args(lambda: calls.append(1) or _encoder()))
    assert calls == [1] and "another encoder (its key differs)" in capsys.readouterr().err


def test_force_pretrains_again_once_per_encoder(tmp_path):
    registry = build_registry()
    runner = Runner(registry, ResultsStore(tmp_path / "s.sqlite"), EncoderCache(tmp_path / "enc"), torch.device("cpu"),
                    quiet=True)
    sets = (("pretrain", "epochs", "1"), ("pretrain", "num_hidden", "8"), ("pretrain", "num_heads", "2"),
            ("head", "epochs", "2"))
    cells = [Cell("Cora", "graphmae", slim, "linear", preset="quick", sets=sets) for slim in ("original", "half")]
    runner.run(cells)
    pretrainer, calls = registry.get("pretrainer", "graphmae"), []
    original = type(pretrainer).pretrain

    def counting(self, *args):
        calls.append(1)
        return original(self, *args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(pretrainer), "pretrain", counting)
        Runner(registry, runner.store, runner.cache, torch.device("cpu"), quiet=True).run(cells, force=True)
        assert calls == [1]  # both cells share one encoder: pretrained again once, not from the cache
        Runner(registry, runner.store, runner.cache, torch.device("cpu"), quiet=True).run(cells, force=False)
        assert calls == [1]
