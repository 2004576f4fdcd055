"""Seeding: one call makes a run repeatable on the CPU."""

from __future__ import annotations

import hashlib
import random


def seed_everything(seed: int) -> None:
    """Seed ``random``, NumPy and torch (CPU and every CUDA device)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def derive_seed(*parts: object) -> int:
    """A stable 31-bit seed from any parts (e.g. a pretraining seed and a fine-tuning seed)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF
