"""The pretrained-encoder cache: one file per (dataset, pretrainer, its version, resolved options, seed).

Files hold ``{"arch", "state_dict", "meta"}`` and load with ``torch.load(weights_only=True)``.
Writes go to a temporary file that is renamed into place, so a killed run leaves no torn file.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import torch
    from torch import nn

FORMAT = 1


def config_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


class EncoderCache:
    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def path(self, dataset: str, pretrainer: str, version: str, options: dict[str, Any], seed: int) -> Path:
        key = config_hash({"format": FORMAT, "dataset": dataset, "pretrainer": pretrainer, "version": version,
                           "options": options, "seed": seed})
        return self.directory / f"{pretrainer}-{dataset}-seed{seed}-{key}.pt"

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
    ) -> tuple[nn.Module, bool]:
        """The cached encoder if present (second value True), else pretrain, save and return it."""
        import torch

        path = self.path(dataset, pretrainer, version, options, seed)
        if path.exists():
            state = torch.load(path, map_location=device, weights_only=True)
            encoder = build(state["arch"]).to(device)
            encoder.load_state_dict(state["state_dict"])
            return encoder.eval(), True
        encoder = pretrain()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        meta = {"dataset": dataset, "pretrainer": pretrainer, "version": version, "options": json.dumps(options),
                "seed": seed}
        torch.save({"arch": encoder.arch, "state_dict": encoder.state_dict(), "meta": meta}, tmp)
        os.replace(tmp, path)
        return encoder.eval(), False
