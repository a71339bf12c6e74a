"""Deterministic, resumable sample order for iteration-based training.

The training stream is the concatenation of one permutation of the dataset per epoch; the
permutation of epoch e is drawn from ``default_rng([seed, e])``. Iteration t consumes stream
positions ``[t*B, (t+1)*B)`` of the global batch B; with W ranks, rank r takes the r-th
contiguous slice of B/W positions. Everything is a pure function of (seed, iteration, rank,
world size), so a resumed run starts exactly where the killed one stopped and a W-rank run sees
the same global batches as a single process.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Iterator

import numpy as np

_ORDER_STREAM = 0


@lru_cache(maxsize=4)
def epoch_order(seed: int, epoch: int, num_samples: int) -> np.ndarray:
    """[n] permutation of sample indices of ``epoch``."""
    return np.random.default_rng([int(seed), int(epoch), _ORDER_STREAM]).permutation(int(num_samples))


def batch_keys(seed: int, iteration: int, num_samples: int, global_batch: int, rank: int = 0,
               world_size: int = 1) -> list[tuple[int, int]]:
    """The ``(epoch, index)`` sample keys of this rank at ``iteration``."""
    if global_batch % world_size:
        raise ValueError(f"global batch {global_batch} is not divisible by {world_size} ranks")
    local = global_batch // world_size
    start = iteration * global_batch + rank * local
    keys = []
    for pos in range(start, start + local):
        epoch, k = divmod(pos, num_samples)
        keys.append((epoch, int(epoch_order(seed, epoch, num_samples)[k])))
    return keys


class IterationBatchSampler:
    """Batch sampler for ``DataLoader(batch_sampler=...)`` yielding this rank's keys for
    iterations ``start .. stop - 1`` (see the module docstring)."""

    def __init__(self, num_samples: int, global_batch: int, seed: int, start: int, stop: int,
                 rank: int = 0, world_size: int = 1) -> None:
        if num_samples < 1:
            raise ValueError("cannot sample from an empty dataset")
        if global_batch < world_size or global_batch % world_size:
            raise ValueError(f"batch size {global_batch} must be a multiple of the world size "
                             f"{world_size}")
        self.num_samples, self.global_batch, self.seed = int(num_samples), int(global_batch), int(seed)
        self.start, self.stop, self.rank, self.world_size = int(start), int(stop), int(rank), int(world_size)

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for it in range(self.start, self.stop):
            yield batch_keys(self.seed, it, self.num_samples, self.global_batch, self.rank,
                             self.world_size)
