"""A distribution in bounded memory: every value while there are few, then a log-linear histogram.

A long level pools millions of values (every inter-token gap; every request's lateness), so they cannot
all be kept. Up to `EXACT_LIMIT` values the summary is exactly `stats.summary` of them; past it they are
counted in buckets `resolution` wide below 2,048 steps and 1/1,024 of their value wide above (HDR
histogram's layout), so a percentile is off by at most 1/2,048 of its value. Count, mean, standard
deviation, minimum and maximum stay exact. Memory: at most 34,816 bucket counts (280 KB), whatever the
number of values.
"""

from array import array

import msgspec
import numpy as np
import numpy.typing as npt

from kitt import stats

EXACT_LIMIT = 65_536
_SUB = 2048  # steps counted one by one; above, each power of two is cut into _HALF buckets
_HALF = _SUB // 2
_MAX_BITS = 42  # values up to 2**42 steps (73 minutes in nanoseconds); larger ones share the top bucket
_BUCKETS = _SUB + (_MAX_BITS - 11) * _HALF

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


class SketchState(msgspec.Struct, frozen=True, kw_only=True):
    """A sketch on the wire (a worker process hands its own figures to the parent)."""

    resolution: float
    count: int = 0
    mean: float = 0.0
    m2: float = 0.0  # sum of squared deviations from the mean (Chan et al.'s pairwise update)
    low: float = 0.0
    high: float = 0.0
    values: tuple[float, ...] = ()  # every value, while there are at most EXACT_LIMIT
    buckets: tuple[int, ...] = ()  # the histogram's non-empty buckets, once past it
    counts: tuple[int, ...] = ()


def bucket_of(steps: Ints) -> Ints:
    """Each value's bucket (values in whole steps, not negative)."""
    steps = np.clip(steps, 0, (1 << _MAX_BITS) - 1)
    _, bits = np.frexp(steps.astype(np.float64))  # bit length, exact below 2**53
    shift = np.maximum(bits.astype(np.int64) - 11, 0)
    return np.where(steps < _SUB, steps, _SUB + (shift - 1) * _HALF + (steps >> shift) - _HALF)


def bucket_value(buckets: Ints) -> Floats:
    """The middle of each bucket, in steps (a one-step bucket's own value)."""
    buckets = np.asarray(buckets, dtype=np.int64)
    shift = np.maximum((buckets - _SUB) // _HALF + 1, 0)
    low = np.where(buckets < _SUB, buckets, ((buckets - _SUB) % _HALF + _HALF) << shift)
    width = np.where(buckets < _SUB, 0, 1 << shift)
    return low + (width - 1) / 2.0 * (width > 1)


class Sketch:
    def __init__(self, resolution: float) -> None:
        self.resolution = resolution  # the value of one step: 1e-9 for seconds counted to the nanosecond
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.low = float("inf")
        self.high = float("-inf")
        self._values: array[float] | None = array("d")
        self._counts: Ints | None = None

    def add(self, values: "Floats | list[float]") -> None:
        data = np.asarray(values, dtype=np.float64)
        if not data.size:
            return
        self._moments(data)
        if self._values is not None and self.count <= EXACT_LIMIT:
            self._values.extend(data.tolist())
            return
        if self._values is not None:  # past the limit: count what was kept in buckets from now on
            kept, self._values = np.frombuffer(self._values, dtype=np.float64).copy(), None
            self._count_in(kept)
        self._count_in(data)

    def _moments(self, data: Floats) -> None:
        n, mean = data.size, float(data.mean())
        m2 = float(((data - mean) ** 2).sum())
        total = self.count + n
        delta = mean - self.mean
        self.m2 += m2 + delta * delta * self.count * n / total
        self.mean += delta * n / total
        self.count = total
        self.low = min(self.low, float(data.min()))
        self.high = max(self.high, float(data.max()))

    def _count_in(self, data: Floats) -> None:
        if self._counts is None:
            self._counts = np.zeros(_BUCKETS, dtype=np.int64)
        steps = np.rint(data / self.resolution).astype(np.int64)
        self._counts += np.bincount(bucket_of(steps), minlength=_BUCKETS)

    @property
    def exact(self) -> bool:
        return self._values is not None

    def merge(self, other: "Sketch") -> None:
        """Add another sketch's values (another worker's, another agent's) to this one."""
        if other.exact:
            self.add(other.values())
        elif other.count:
            self._merge_counts(other)

    def _merge_counts(self, other: "Sketch") -> None:
        assert other._counts is not None
        if self._values is not None:
            kept, self._values = self.values().copy(), None
            self._counts = np.zeros(_BUCKETS, dtype=np.int64)
            self._count_in(kept)
        assert self._counts is not None
        self._counts += other._counts
        total = self.count + other.count
        delta = other.mean - self.mean
        self.m2 += other.m2 + delta * delta * self.count * other.count / total
        self.mean += delta * other.count / total
        self.count = total
        self.low, self.high = min(self.low, other.low), max(self.high, other.high)

    def values(self) -> Floats:
        """Every value (exact sketches only)."""
        if self._values is None:
            raise ValueError("this sketch keeps buckets, not values")
        return np.frombuffer(self._values, dtype=np.float64) if self._values else np.zeros(0)

    def summary(self) -> dict[str, float]:
        """As `stats.summary`: exactly it while exact; from the buckets past that."""
        if self.exact:
            return stats.summary(self.values())
        if not self.count:
            return {}
        out = {
            "mean": self.mean,
            "std": (self.m2 / self.count) ** 0.5,
            "min": self.low,
            "max": self.high,
        }
        for q in stats.PERCENTILES:
            out[f"p{q:g}"] = self.percentile(q)
        return out

    def percentile(self, q: float) -> float:
        """numpy's linear interpolation between closest ranks, over bucket middles (clamped to min, max)."""
        if self.exact:
            return float(np.percentile(self.values(), q))
        assert self._counts is not None
        position = (self.count - 1) * q / 100.0
        rank = int(position)
        cumulative = np.cumsum(self._counts)
        at = np.searchsorted(cumulative, [rank + 1, min(rank + 2, self.count)])
        low, high = bucket_value(at) * self.resolution
        value = low + (high - low) * (position - rank)
        return float(min(max(value, self.low), self.high))

    def sample(self, size: int, seed: int = 0) -> Floats:
        """Every value while exact; past that, `size` values drawn from the buckets (bucket middles)."""
        if self.exact:
            return self.values()
        assert self._counts is not None
        (nonzero,) = np.nonzero(self._counts)
        weights = self._counts[nonzero] / self.count
        picked = np.random.default_rng(seed).choice(nonzero, size=size, p=weights)
        return np.clip(bucket_value(picked) * self.resolution, self.low, self.high)

    def state(self) -> SketchState:
        if self.exact:
            return SketchState(resolution=self.resolution, values=tuple(self.values().tolist()))
        assert self._counts is not None
        (nonzero,) = np.nonzero(self._counts)
        return SketchState(
            resolution=self.resolution,
            count=self.count,
            mean=self.mean,
            m2=self.m2,
            low=self.low,
            high=self.high,
            buckets=tuple(nonzero.tolist()),
            counts=tuple(self._counts[nonzero].tolist()),
        )

    @classmethod
    def of(cls, state: SketchState) -> "Sketch":
        sketch = cls(state.resolution)
        if state.buckets:
            sketch._values = None
            sketch._counts = np.zeros(_BUCKETS, dtype=np.int64)
            sketch._counts[np.asarray(state.buckets, dtype=np.int64)] = state.counts
            sketch.count, sketch.mean, sketch.m2 = state.count, state.mean, state.m2
            sketch.low, sketch.high = state.low, state.high
        else:
            sketch.add(list(state.values))
        return sketch
