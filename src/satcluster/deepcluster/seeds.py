"""Seeds: one run seed, mixed with epoch, iteration and rank, so every rank draws alike or apart.

Every random draw of training (sample, head, crops, flips, dropout) is seeded
from the run seed and its position, so a resumed run draws what an
uninterrupted one would have.
"""

from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["mix_seed", "seed_everything", "u32"]


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(u32(seed))
    torch.manual_seed(seed)


def u32(value: int) -> int:
    """``value`` modulo 2**32 (NumPy seeds are unsigned 32-bit)."""
    return value % 2**32


def mix_seed(*parts: int) -> int:
    """A 63-bit seed mixing ``parts`` (seed, epoch, iteration, rank...)."""
    state = np.random.SeedSequence([u32(p) for p in parts]).generate_state(2)
    return int((int(state[0]) << 31) ^ int(state[1]))
