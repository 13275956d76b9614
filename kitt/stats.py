"""Summary statistics with the definitions vLLM's serving benchmark uses (numpy's linear interpolation)."""

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile of already sorted values, interpolated linearly between closest ranks."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    position = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


def summary(values: "Sequence[float] | npt.NDArray[np.float64]") -> dict[str, float]:
    """mean, std (population, as numpy), min, max and the standard percentiles; empty for no values.

    Vectorised: a long load test pools millions of inter-token gaps.
    """
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return {}
    out = {
        "mean": float(data.mean()),
        "std": float(data.std()),
        "min": float(data.min()),
        "max": float(data.max()),
    }
    for q, value in zip(PERCENTILES, np.percentile(data, PERCENTILES), strict=True):
        out[f"p{q:g}"] = float(value)
    return out


def median(values: Sequence[float]) -> float:
    return percentile(sorted(values), 50.0)
