"""The pretrained-encoder cache: one file per (dataset, pretrainer, its version, resolved options, seed).

Files hold ``{"format", "key", "arch", "state_dict", "checksum"}`` and load with
``torch.load(weights_only=True)``. ``key`` is what the file name hashes (dataset, pretrainer, version,
options, seed) and ``checksum`` a SHA-256 of the architecture and every tensor's bytes; both are
verified on load. A file that fails (unreadable, torn, another key's, altered bytes, weights that do not
fit the architecture) is set aside under ``<name>.bad-<time>`` (never deleted), the encoder is
pretrained again and a one-line warning on stderr names both files. Writes go to a temporary file that
is renamed into place, so a killed run leaves no torn file.
A missing or damaged entry is pretrained under a lock on ``<entry>.lock`` (released by the kernel if
the process dies): concurrent workers (processes, hosts sharing the folder) pretrain each encoder
once, and the others load it once the lock is theirs.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from registry.errors import ConfigError
from filelock import FileLock

if TYPE_CHECKING:
    import torch
    from torch import nn

FORMAT = 2


def config_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


_SEED, _FINETUNE_SEED = '"@@seed@@"', '"@@finetune_seed@@"'


def hash_template(payload: dict[str, Any]) -> str:
    """``payload``'s JSON with placeholders for ``seed`` and ``finetune_seed``: :func:`seeded_hash` fills
    them in and hashes, equal to ``config_hash({**payload, "seed": s, "finetune_seed": f})`` without
    serialising the payload again for every seed."""
    return json.dumps({**payload, "seed": _SEED[1:-1], "finetune_seed": _FINETUNE_SEED[1:-1]}, sort_keys=True,
                      default=str)


def seeded_hash(template: str, seed: int, finetune_seed: int) -> str:
    text = template.replace(_SEED, str(int(seed)), 1).replace(_FINETUNE_SEED, str(int(finetune_seed)), 1)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def checksum(arch: dict[str, Any], state_dict: dict[str, torch.Tensor]) -> str:
    """SHA-256 of the architecture and of every tensor's name, dtype, shape and bytes."""
    import torch

    digest = hashlib.sha256(json.dumps(arch, sort_keys=True, default=str).encode())
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class DamagedCacheFile(Exception):
    """A cache file that does not hold what its name promises."""


class EncoderCache:
    def __init__(self, directory: Path):
        self.directory = Path(directory)

    @staticmethod
    def key(dataset: str, pretrainer: str, version: str, options: dict[str, Any], seed: int) -> str:
        """What identifies an encoder, as JSON: the file name hashes it, the file holds it."""
        return json.dumps({"format": FORMAT, "dataset": dataset, "pretrainer": pretrainer, "version": version,
                           "options": options, "seed": seed}, sort_keys=True, default=str)

    def path(self, dataset: str, pretrainer: str, version: str, options: dict[str, Any], seed: int) -> Path:
        key = hashlib.sha256(self.key(dataset, pretrainer, version, options, seed).encode()).hexdigest()[:16]
        return self.directory / f"{pretrainer}-{dataset}-seed{seed}-{key}.pt"

    def check_writable(self) -> None:
        """Bad input, before any training: a cache location that is a file or cannot be written."""
        folder = self.directory
        while not folder.exists() and folder.parent != folder:
            folder = folder.parent
        if not folder.is_dir():
            raise ConfigError(f"encoder cache location {self.directory} is not a folder ({folder} is a file); "
                              "point SLIDE_BENCH_CACHE elsewhere")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ConfigError(f"encoder cache folder {folder} is not writable; point SLIDE_BENCH_CACHE elsewhere")

    def get_or_pretrain(
        self,
        dataset: str,
        pretrainer: str,
        version: str,
        options: dict[str, Any],
        seed: int,
        build: Callable[[dict[str, Any]], nn.Module],
        pretrain: Callable[[], nn.Module],
        device: torch.device,
        force: bool = False,
    ) -> tuple[nn.Module, bool]:
        """The cached encoder if present and intact (second value True), else pretrain, save and return
        it; ``force`` pretrains again whatever the cache holds."""
        key = self.key(dataset, pretrainer, version, options, seed)
        path = self.path(dataset, pretrainer, version, options, seed)
        if path.exists() and not force:
            try:
                return self._load(path, key, build, device), True
            except Exception:  # noqa: BLE001 (checked again under the lock, where a damaged file is set aside)
                pass
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(path.with_name(path.name + ".lock")):  # one worker pretrains, the others wait and load
            if path.exists() and not force:
                try:
                    return self._load(path, key, build, device), True
                except Exception as exc:  # noqa: BLE001 (whatever is wrong with the file, it is set aside)
                    self._set_aside(path, exc)
            encoder = pretrain()
            self._save(path, key, encoder)
        return encoder.eval(), False

    @staticmethod
    def _load(path: Path, key: str, build: Callable[[dict[str, Any]], nn.Module],
              device: torch.device) -> nn.Module:
        import torch

        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise DamagedCacheFile(f"not a format-{FORMAT} cache file")
        if state.get("key") != key:
            raise DamagedCacheFile("it holds another encoder (its key differs)")
        if state.get("checksum") != checksum(state["arch"], state["state_dict"]):
            raise DamagedCacheFile("checksum mismatch")
        encoder = build(state["arch"])
        encoder.load_state_dict(state["state_dict"])
        return encoder.to(device).eval()

    @staticmethod
    def _set_aside(path: Path, exc: Exception) -> None:
        aside = path.with_name(f"{path.name}.bad-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
        os.replace(path, aside)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"slide-bench: warning: cached encoder {path} is damaged ({reason[:200]}); set aside as "
              f"{aside.name}, pretraining again", file=sys.stderr, flush=True)

    @staticmethod
    def _save(path: Path, key: str, encoder: nn.Module) -> None:
        import torch

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        state_dict = {name: tensor.detach().cpu() for name, tensor in encoder.state_dict().items()}
        torch.save({"format": FORMAT, "key": key, "arch": encoder.arch, "state_dict": state_dict,
                    "checksum": checksum(encoder.arch, state_dict)}, tmp)
        os.replace(tmp, path)
