"""A minimal raw-socket streaming client: the reference the load generator's timestamps are held to.

No HTTP library, no decoding while streaming: keep-alive sockets, pre-built request bytes, one
`perf_counter()` per read, and a byte search for token chunks (`"text"`) and the end of the chunked body.
Whatever overhead a real client adds shows up as its distance from this one.
"""

import asyncio
import itertools
import time

TOKEN = b'"text":" tok"'
END = b"0\r\n\r\n"


class _Stream(asyncio.Protocol):
    def __init__(self, done: asyncio.Queue[list[float] | None]) -> None:
        self.done = done
        self.transport: asyncio.Transport | None = None
        self.times: list[float] = []
        self.tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, request: bytes) -> None:
        assert self.transport is not None
        self.times = [time.perf_counter()]
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.times.extend([now] * data.count(TOKEN))
        self.tail = (self.tail + data)[-8:]
        if self.tail.endswith(END):
            self.tail = b""
            self.done.put_nowait(self.times)

    def connection_lost(self, exc: Exception | None) -> None:
        self.done.put_nowait(None)


async def _slot(host: str, port: int, request: bytes, count: int, out: list[list[float]]) -> None:
    done: asyncio.Queue[list[float] | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    _, stream = await loop.create_connection(lambda: _Stream(done), host, port)
    for _ in range(count):
        stream.send(request)
        times = await done.get()
        if times is None:
            return
        out.append(times)
    assert stream.transport is not None
    stream.transport.close()


async def run(host: str, port: int, body: bytes, *, concurrency: int, requests: int) -> dict[str, float]:
    """Fixed concurrency; returns req/s, TTFT and ITL percentiles (ms) as the reference measures them."""
    request = (
        f"POST /v1/completions HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    per_slot = max(1, requests // concurrency)
    out: list[list[float]] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(_slot(host, port, request, per_slot, out) for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    ttft = sorted((t[1] - t[0]) * 1000 for t in out if len(t) > 1)
    itl = sorted((b - a) * 1000 for t in out for a, b in itertools.pairwise(t[1:]))

    def pct(values: list[float], q: float) -> float:
        return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))] if values else float("nan")

    return {
        "req/s": len(out) / wall,
        "ttft p50": pct(ttft, 50),
        "ttft p99": pct(ttft, 99),
        "itl p50": pct(itl, 50),
        "itl p99": pct(itl, 99),
        "cpu": cpu / wall,
        "cpu us/req": cpu / max(len(out), 1) * 1e6,
        "failed": float(concurrency * per_slot - len(out)),
    }
