"""A level's request records as flat columns: what the metrics need, at a few bytes per token.

A 10-minute load test holds hundreds of thousands of requests; as Python objects their chunk times alone
would take gigabytes. Columns grow in `array`s (8 bytes a value) and are read as numpy arrays.
"""

from array import array
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from kitt.bench.records import RequestRecord

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


class RecordColumns:
    def __init__(self) -> None:
        self._start = array("d")
        self._end = array("d")
        self._ttft = array("d")  # NaN: no token arrived
        self._scheduled = array("d")  # NaN: not scheduled (fixed concurrency)
        self._output = array("q")
        self._prompt = array("q")  # -1: the server did not say
        self._chunks = array("q")
        self._offsets = array("d")  # every request's chunk offsets, one after another
        self._flags = array("b")  # bit 0: ok, bit 1: warm-up, bit 2: tokens counted from usage
        self.errors = 0
        self.first_error: str | None = None

    @classmethod
    def of(cls, records: Iterable[RequestRecord]) -> "RecordColumns":
        columns = cls()
        columns.extend(records)
        return columns

    def extend(self, records: Iterable[RequestRecord]) -> None:
        for r in records:
            self.add(r)

    def add(self, r: RequestRecord) -> None:
        self._start.append(r.start)
        self._end.append(r.end)
        ttft = r.ttft
        self._ttft.append(float("nan") if ttft is None else ttft)
        self._scheduled.append(float("nan") if r.scheduled is None else r.scheduled)
        self._output.append(r.output_tokens)
        self._prompt.append(-1 if r.prompt_tokens is None else r.prompt_tokens)
        self._chunks.append(len(r.chunk_offsets))
        self._offsets.extend(r.chunk_offsets)
        self._flags.append(int(r.ok) | (2 if r.warmup else 0) | (4 if r.token_source == "usage" else 0))
        if r.error is not None:
            self.errors += 1
            if self.first_error is None:
                self.first_error = r.error

    def __len__(self) -> int:
        return len(self._start)

    @property
    def start(self) -> Floats:
        return np.frombuffer(self._start, dtype=np.float64) if self._start else np.zeros(0)

    @property
    def end(self) -> Floats:
        return np.frombuffer(self._end, dtype=np.float64) if self._end else np.zeros(0)

    @property
    def ttft(self) -> Floats:
        return np.frombuffer(self._ttft, dtype=np.float64) if self._ttft else np.zeros(0)

    @property
    def scheduled(self) -> Floats:
        return np.frombuffer(self._scheduled, dtype=np.float64) if self._scheduled else np.zeros(0)

    @property
    def output_tokens(self) -> Ints:
        return np.frombuffer(self._output, dtype=np.int64) if self._output else np.zeros(0, np.int64)

    @property
    def prompt_tokens(self) -> Ints:
        return np.frombuffer(self._prompt, dtype=np.int64) if self._prompt else np.zeros(0, np.int64)

    @property
    def chunks(self) -> Ints:
        return np.frombuffer(self._chunks, dtype=np.int64) if self._chunks else np.zeros(0, np.int64)

    @property
    def offsets(self) -> Floats:
        return np.frombuffer(self._offsets, dtype=np.float64) if self._offsets else np.zeros(0)

    def _flag(self, bit: int) -> Bools:
        flags = np.frombuffer(self._flags, dtype=np.int8) if self._flags else np.zeros(0, np.int8)
        return (flags & bit) != 0

    @property
    def ok(self) -> Bools:
        return self._flag(1)

    @property
    def warmup(self) -> Bools:
        return self._flag(2)

    @property
    def usage_counted(self) -> Bools:
        return self._flag(4)

    def chunk_owner(self) -> Ints:
        """For every chunk offset, the index of the request it belongs to."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.chunks)

    def gaps(self, selected: Bools) -> Floats:
        """Every gap between consecutive chunks of the same request, for the selected requests (ITL)."""
        offsets, owner = self.offsets, self.chunk_owner()
        if offsets.size < 2:
            return np.zeros(0)
        same = owner[1:] == owner[:-1]
        keep = same & selected[owner[1:]]
        return (offsets[1:] - offsets[:-1])[keep]
