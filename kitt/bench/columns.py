"""A level's request records as flat columns: what the metrics need, in bounded memory.

A 10-minute load test at 500 requests a second makes 300,000 requests and millions of chunks. Each
request keeps 25 bytes (its start, end, first token, token counts and flags), so TTFT, TPOT and E2E stay
exact; its chunk times are folded, a batch at a time, into the pooled inter-token gaps (a `Sketch`) and
the tokens' arrival times (a `TokenTimeline`), which are bounded whatever the level's length. Columns
built from stored records for analysis (`keep_offsets`: A/B tests and SLO checks resample every gap)
also keep every chunk time.
"""

from array import array
from collections import Counter
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from kitt.bench import errors
from kitt.bench.records import RequestRecord
from kitt.bench.sketch import Sketch
from kitt.bench.timeline import TokenTimeline

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

FOLD_EVERY = 16_384  # chunk times held before they are folded into the gaps and the timeline
OK, WARMUP, USAGE = 1, 2, 4


def _floats(values: "array[float]") -> Floats:
    return np.frombuffer(values, dtype=values.typecode).astype(np.float64) if values else np.zeros(0)


def _ints(values: "array[int]") -> Ints:
    return np.frombuffer(values, dtype=np.int32).astype(np.int64) if values else np.zeros(0, np.int64)


class RecordColumns:
    def __init__(self, *, keep_offsets: bool = False) -> None:
        self._start = array("d")  # seconds after t0: doubles, as a level may last hours
        self._end = array("f")  # seconds after the request's start
        self._ttft = array("f")  # NaN: no token arrived
        self._last = array("f")  # the last chunk's offset; NaN: none
        self._output = array("i")
        self._prompt = array("i")  # -1: the server did not say
        self._flags = array("b")  # OK | WARMUP | USAGE (tokens counted from the server's usage)
        self.errors = 0
        self.first_error: str | None = None
        self.error_classes: Counter[str] = Counter()  # measured requests' failures by class (bench.errors)
        self.keep_offsets = keep_offsets
        self._chunks = array("i")  # keep_offsets: every request's chunk count and chunk times
        self._offsets = array("d")
        # Measured, successful requests' chunk times not yet folded into `_itl` and `_timeline`.
        self._pending = array("d")
        self._pending_owner: list[tuple[float, int, float]] = []  # (start, chunks, tokens per chunk)
        self._itl = Sketch(1e-9)
        self._timeline = TokenTimeline()

    @classmethod
    def of(cls, records: Iterable[RequestRecord], *, keep_offsets: bool = True) -> "RecordColumns":
        columns = cls(keep_offsets=keep_offsets)
        columns.extend(records)
        return columns

    def extend(self, records: Iterable[RequestRecord]) -> None:
        for r in records:
            self.add(r)

    def add(self, r: RequestRecord) -> None:
        offsets = r.chunk_offsets
        self._start.append(r.start)
        self._end.append(r.end)
        self._ttft.append(offsets[0] if offsets else float("nan"))
        self._last.append(offsets[-1] if offsets else float("nan"))
        self._output.append(r.output_tokens)
        self._prompt.append(-1 if r.prompt_tokens is None else r.prompt_tokens)
        ok = r.error is None and bool(offsets)
        usage = USAGE if r.token_source == "usage" else 0
        self._flags.append(int(ok) | (WARMUP if r.warmup else 0) | usage)
        if self.keep_offsets:
            self._chunks.append(len(offsets))
            self._offsets.extend(offsets)
        if ok and not r.warmup:
            self._pending.extend(offsets)
            self._pending_owner.append((r.start, len(offsets), r.output_tokens / len(offsets)))
            if len(self._pending) >= FOLD_EVERY:
                self._fold()
        if r.error is not None:
            self.errors += 1
            if self.first_error is None:
                self.first_error = r.error
            if not r.warmup:
                self.error_classes[errors.classify(r.error)] += 1

    def _fold(self) -> None:
        if not self._pending_owner:
            return
        offsets = np.frombuffer(self._pending, dtype=np.float64)
        starts, counts, per_chunk = (np.asarray(c) for c in zip(*self._pending_owner, strict=True))
        owner = np.repeat(np.arange(counts.size), counts)
        same = owner[1:] == owner[:-1]
        self._itl.add((offsets[1:] - offsets[:-1])[same])
        self._timeline.add(starts[owner] + offsets, per_chunk[owner].astype(np.float64))
        self._pending = array("d")
        self._pending_owner = []

    def __len__(self) -> int:
        return len(self._start)

    @property
    def itl(self) -> Sketch:
        """Every gap between consecutive chunks of a measured, successful request, pooled."""
        self._fold()
        return self._itl

    @property
    def timeline(self) -> TokenTimeline:
        """When measured, successful requests' output tokens arrived (each chunk its request's share)."""
        self._fold()
        return self._timeline

    @property
    def start(self) -> Floats:
        return _floats(self._start)

    @property
    def end(self) -> Floats:
        return _floats(self._end)

    @property
    def ttft(self) -> Floats:
        return _floats(self._ttft)

    @property
    def last(self) -> Floats:
        return _floats(self._last)

    @property
    def output_tokens(self) -> Ints:
        return _ints(self._output)

    @property
    def prompt_tokens(self) -> Ints:
        return _ints(self._prompt)

    def _flag(self, bit: int) -> Bools:
        flags = np.frombuffer(self._flags, dtype=np.int8) if self._flags else np.zeros(0, np.int8)
        return (flags & bit) != 0

    @property
    def ok(self) -> Bools:
        return self._flag(OK)

    @property
    def warmup(self) -> Bools:
        return self._flag(WARMUP)

    @property
    def usage_counted(self) -> Bools:
        return self._flag(USAGE)

    def gaps(self, selected: Bools) -> Floats:
        """Every gap between consecutive chunks of the same request, for the selected requests (ITL)."""
        if not self.keep_offsets:
            raise ValueError("these columns folded their chunk times: build them with keep_offsets")
        offsets = np.frombuffer(self._offsets, dtype=np.float64) if self._offsets else np.zeros(0)
        if offsets.size < 2:
            return np.zeros(0)
        owner = np.repeat(np.arange(len(self), dtype=np.int64), _ints(self._chunks))
        same = owner[1:] == owner[:-1]
        keep = same & selected[owner[1:]]
        return (offsets[1:] - offsets[:-1])[keep]
