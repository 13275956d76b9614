"""What the load generator keeps per request: enough to recompute every metric later."""

import msgspec

from kitt.bench.sketch import SketchState
from kitt.events.results import Sample

MS_STEP = 1e-6  # figures in milliseconds, counted to the nanosecond


class RequestRecord(msgspec.Struct, kw_only=True):
    index: int
    worker: int
    start: float  # seconds after the benchmark's t0 when the request was written to the socket
    scheduled: float | None = None  # rate mode: when it was due (start - scheduled is the lateness)
    chunk_offsets: list[float] = []  # seconds after `start` of each token-bearing chunk's read
    end: float = 0.0  # seconds after `start` when the response ended
    output_tokens: int = 0
    prompt_tokens: int | None = None
    token_source: str = "count"
    error: str | None = None
    warmup: bool = False
    session: int | None = None  # multi-turn: which chat, and which turn of it
    turn: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.chunk_offsets)

    @property
    def ttft(self) -> float | None:
        return self.chunk_offsets[0] if self.chunk_offsets else None

    def to_sample(self, **labels: str | int | float) -> Sample:
        sample: Sample = {
            "index": self.index,
            "worker": self.worker,
            "start_s": round(self.start, 6),
            "scheduled_s": None if self.scheduled is None else round(self.scheduled, 6),
            "e2e_ms": round(self.end * 1000, 3),
            "ttft_ms": None if self.ttft is None else round(self.ttft * 1000, 3),
            "chunk_ms": " ".join(f"{o * 1000:.3f}" for o in self.chunk_offsets),
            "output_tokens": self.output_tokens,
            "prompt_tokens": self.prompt_tokens,
            "token_source": self.token_source,
            "error": self.error,
            "warmup": self.warmup,
        }
        if self.session is not None:
            sample["session"], sample["turn"] = self.session, self.turn
        sample.update(labels)
        return sample

    @classmethod
    def from_sample(cls, sample: Sample) -> "RequestRecord":
        chunks = str(sample.get("chunk_ms") or "")
        scheduled = sample.get("scheduled_s")
        prompt = sample.get("prompt_tokens")
        error = sample.get("error")
        return cls(
            index=int(sample["index"] or 0),
            worker=int(sample["worker"] or 0),
            start=float(sample["start_s"] or 0.0),
            scheduled=None if scheduled is None else float(scheduled),
            chunk_offsets=[float(x) / 1000 for x in chunks.split()],
            end=float(sample["e2e_ms"] or 0.0) / 1000,
            output_tokens=int(sample["output_tokens"] or 0),
            prompt_tokens=None if prompt is None else int(prompt),
            token_source=str(sample.get("token_source") or "count"),
            error=None if error is None else str(error),
            warmup=bool(sample.get("warmup")),
            session=_int_or_none(sample.get("session")),
            turn=_int_or_none(sample.get("turn")),
        )


class WorkerStats(msgspec.Struct, kw_only=True):
    """The load generator watching itself: if it saturates, its latencies measure it, not the engine."""

    worker: int
    cpu_s: float
    wall_s: float
    loop_lag_ms: SketchState = SketchState(resolution=MS_STEP)  # each tick's lag
    lateness_ms: SketchState = SketchState(resolution=MS_STEP)  # each scheduled request's lateness
    stopped_for_errors: bool = False  # it stopped sending: its requests had clearly spent the error budget


def _int_or_none(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
