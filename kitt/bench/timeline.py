"""When output tokens arrived, in bounded memory: every arrival while there are few, then time bins.

Throughput is counted over a window known only once a level has ended (kitt.bench.metrics.steady_window),
so each chunk's tokens are kept by arrival time. Up to `EXACT_LIMIT` chunks the sum over a window is exact;
past it chunks are counted in bins (`BIN_S` wide, twice as wide each time there would be more than
`MAX_BINS`), and a bin cut by a window's edge counts in proportion to the part inside. At 8,000 tokens/s
that is at most a few dozen tokens on each edge of a window of tens of thousands.
"""

from array import array

import numpy as np
import numpy.typing as npt

EXACT_LIMIT = 65_536
BIN_S = 0.01
MAX_BINS = 1 << 17  # 1 MB of bins; a level longer than 22 minutes gets wider ones

Floats = npt.NDArray[np.float64]


class TokenTimeline:
    def __init__(self) -> None:
        self._times: array[float] | None = array("d")
        self._tokens: array[float] | None = array("d")
        self._bins: Floats | None = None
        self._width = BIN_S
        self.total = 0.0

    def add(self, times: Floats, tokens: Floats) -> None:
        """Chunks that arrived at `times` (seconds after t0, not negative), carrying `tokens` each."""
        if not times.size:
            return
        self.total += float(tokens.sum())
        if self._times is not None and self._tokens is not None:
            if len(self._times) + times.size <= EXACT_LIMIT:
                self._times.extend(times.tolist())
                self._tokens.extend(tokens.tolist())
                return
            kept_times = np.frombuffer(self._times, dtype=np.float64).copy()
            kept_tokens = np.frombuffer(self._tokens, dtype=np.float64).copy()
            self._times = self._tokens = None
            self._bin(kept_times, kept_tokens)
        self._bin(times, tokens)

    def _bin(self, times: Floats, tokens: Floats) -> None:
        if not times.size:
            return
        if self._bins is None:
            self._bins = np.zeros(1024)
        index = np.floor(np.clip(times, 0, None) / self._width).astype(np.int64)
        need = int(index.max()) + 1
        while need > MAX_BINS:  # keep the count bounded: halve the resolution
            self._bins = self._bins.reshape(-1, 2).sum(axis=1) if self._bins.size % 2 == 0 else self._pairs()
            self._width *= 2
            index //= 2
            need = int(index.max()) + 1
        if need > self._bins.size:
            grown = np.zeros(min(MAX_BINS, max(need, 2 * self._bins.size)))
            grown[: self._bins.size] = self._bins
            self._bins = grown
        self._bins += np.bincount(index, weights=tokens, minlength=self._bins.size)

    def _pairs(self) -> Floats:
        assert self._bins is not None
        padded = np.append(self._bins, 0.0)
        return padded.reshape(-1, 2).sum(axis=1)

    def between(self, start: float, end: float) -> float:
        """Tokens that arrived from `start` to `end`, both included."""
        if self._times is not None and self._tokens is not None:
            times = np.frombuffer(self._times, dtype=np.float64) if self._times else np.zeros(0)
            tokens = np.frombuffer(self._tokens, dtype=np.float64) if self._tokens else np.zeros(0)
            return float(tokens[(times >= start) & (times <= end)].sum())
        assert self._bins is not None
        cumulative = np.concatenate(([0.0], np.cumsum(self._bins)))
        return self._upto(cumulative, end) - self._upto(cumulative, start)

    def _upto(self, cumulative: Floats, at: float) -> float:
        """Tokens before `at`, the bin holding it counted in proportion."""
        position = min(max(at / self._width, 0.0), float(cumulative.size - 1))
        whole = int(position)
        if whole >= cumulative.size - 1:
            return float(cumulative[-1])
        return float(cumulative[whole] + (cumulative[whole + 1] - cumulative[whole]) * (position - whole))
