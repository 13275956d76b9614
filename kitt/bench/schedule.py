"""A rate level's send times, made as they are needed rather than held.

A duration-bounded level at a high rate may be given a huge request cap; a tuple of every send time was
sized by that cap (50 million floats: 2.4 GB) whatever the level actually sent. A Schedule is a few
numbers: each worker draws the same sequence from the same seed and takes its own share of it, so the
level's send times are those a single list would hold, and memory does not depend on the cap.
"""

import itertools
import random
from collections.abc import Iterator
from typing import Literal

import msgspec


class Schedule(msgspec.Struct, frozen=True, kw_only=True):
    """`count` send times at `rate` per second (inf: all at once): Poisson, with gamma-distributed gaps of
    shape `burstiness` (1.0 is Poisson, lower is burstier, as vLLM's serving benchmark), or constant."""

    rate: float
    count: int
    arrival: Literal["poisson", "constant"] = "poisson"
    burstiness: float = 1.0
    seed: int = 0

    def times(self) -> Iterator[float]:
        if self.rate == float("inf"):
            yield from itertools.repeat(0.0, self.count)
            return
        if self.arrival == "constant":
            yield from (i / self.rate for i in range(self.count))
            return
        rng = random.Random(self.seed)
        t = 0.0
        for _ in range(self.count):
            yield t
            t += rng.gammavariate(self.burstiness, 1.0 / (self.rate * self.burstiness))

    def share(self, worker: int, workers: int) -> Iterator[tuple[int, float]]:
        """Worker `worker`'s requests of `workers`, round-robin: (its own index, send time)."""
        yield from enumerate(itertools.islice(self.times(), worker, None, workers))
