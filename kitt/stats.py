"""Summary statistics with the definitions vLLM's serving benchmark uses (numpy's linear interpolation)."""

import math
from collections.abc import Sequence

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


def summary(values: Sequence[float]) -> dict[str, float]:
    """mean, std (population, as numpy), min, max and the standard percentiles; empty for no values."""
    if not values:
        return {}
    ordered = sorted(values)
    n = len(ordered)
    mean = math.fsum(ordered) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in ordered) / n)
    out = {"mean": mean, "std": std, "min": ordered[0], "max": ordered[-1]}
    for q in PERCENTILES:
        out[f"p{q:g}"] = percentile(ordered, q)
    return out


def median(values: Sequence[float]) -> float:
    return percentile(sorted(values), 50.0)
