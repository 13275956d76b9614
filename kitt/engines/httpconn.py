"""A minimal HTTP/1.1 keep-alive client connection that timestamps every socket read before parsing.

The load generator needs the arrival time of each token, not of each parsed event, and cannot afford a
general-purpose client's per-chunk work. On a read this only stamps the clock and strips chunked framing;
splitting events and decoding JSON happen once the response has ended (see `frames`).
"""

import asyncio
import time
from collections.abc import Iterator

import msgspec

Piece = tuple[float, bytes]  # (perf_counter at the read, body bytes that read delivered)


class HttpError(Exception):
    """The connection failed, or the response broke HTTP/1.1 framing."""


class Response(msgspec.Struct, kw_only=True):
    status: int
    headers: dict[str, str]
    sent_at: float
    pieces: list[Piece]
    ended_at: float
    error: str | None = None  # set when the connection dropped before the response ended

    def body(self) -> bytes:
        return b"".join(piece for _, piece in self.pieces)


class _Chunked:
    """Incremental `Transfer-Encoding: chunked` decoder: a few slices per read, nothing per byte."""

    __slots__ = ("done", "line", "remaining", "skip")

    def __init__(self) -> None:
        self.remaining = 0
        self.skip = 0
        self.line = b""
        self.done = False

    def feed(self, data: bytes, t: float, out: list[Piece]) -> None:
        i, n = 0, len(data)
        while i < n and not self.done:
            if self.remaining:
                take = min(self.remaining, n - i)
                out.append((t, data[i : i + take]))
                self.remaining -= take
                i += take
                if not self.remaining:
                    self.skip = 2
            elif self.skip:
                step = min(self.skip, n - i)
                self.skip -= step
                i += step
            else:
                j = data.find(b"\n", i)
                if j < 0:
                    self.line += data[i:]
                    return
                line, self.line = self.line + data[i:j], b""
                i = j + 1
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise HttpError(f"malformed chunk size line {line[:40]!r}") from None
                if size == 0:
                    self.done = True
                else:
                    self.remaining = size


class Connection(asyncio.Protocol):
    """One connection, one request in flight at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[Response] | None = None
        self.requests = 0
        self.preopened = False
        self._reset()

    def _reset(self) -> None:
        self._head = b""
        self._status = 0
        self._headers: dict[str, str] = {}
        self._pieces: list[Piece] = []
        self._chunked: _Chunked | None = None
        self._length: int | None = None
        self._received = 0
        self.sent_at = 0.0
        self._no_body = False

    @classmethod
    async def open(cls, host: str, port: int) -> "Connection":
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(cls, host, port)
        except OSError as exc:
            raise HttpError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
        return conn

    @property
    def reused(self) -> bool:
        """The request in flight is not the connection's first (a pre-opened idle one counts as reused)."""
        return self.requests > 1 or self.preopened

    @property
    def closed(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def request(self, raw: bytes, *, head: bool = False) -> "asyncio.Future[Response]":
        if self.closed or self.transport is None:
            raise HttpError("connection is closed")
        if self._waiter is not None:
            raise HttpError("a request is already in flight on this connection")
        self._reset()
        self._no_body = head
        self.requests += 1
        self._waiter = asyncio.get_running_loop().create_future()
        self.sent_at = time.perf_counter()
        self.transport.write(raw)
        return self._waiter

    def data_received(self, data: bytes) -> None:
        t = time.perf_counter()
        try:
            if not self._status:
                self._head += data
                end = self._head.find(b"\r\n\r\n")
                if end < 0:
                    return
                data = self._head[end + 4 :]
                self._parse_head(self._head[:end])
                if self._no_body or self._status in (204, 304) or 100 <= self._status < 200:
                    self._finish(t)
                    return
            if self._chunked is not None:
                self._chunked.feed(data, t, self._pieces)
                if self._chunked.done:
                    self._finish(t)
            elif data:
                self._pieces.append((t, data))
                self._received += len(data)
            if self._length is not None and self._received >= self._length:
                self._finish(t)
        except HttpError as exc:
            self._fail(str(exc))

    def _parse_head(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise HttpError(f"malformed status line {lines[0][:60]!r}")
        self._status = int(parts[1])
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self._headers[name.strip().lower()] = value.strip()
        if "chunked" in self._headers.get("transfer-encoding", "").lower():
            self._chunked = _Chunked()
        elif "content-length" in self._headers:
            self._length = int(self._headers["content-length"])

    def _finish(self, t: float, error: str | None = None) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is None or waiter.done():
            return
        response = Response(
            status=self._status,
            headers=self._headers,
            sent_at=self.sent_at,
            pieces=self._pieces,
            ended_at=t,
            error=error,
        )
        if self._headers.get("connection", "").lower() == "close" or error:
            self.close()
        waiter.set_result(response)

    def _fail(self, reason: str) -> None:
        self._finish(time.perf_counter(), error=reason)
        self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._waiter is None:
            return
        if self._status and self._chunked is None and self._length is None:
            self._finish(time.perf_counter())  # body delimited by close: a complete response
        elif not self._status:
            self._finish(time.perf_counter(), error="connection closed before the response headers")
        else:
            self._finish(time.perf_counter(), error="connection closed mid-response")

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def build_request(
    host: str, port: int, method: str, path: str, body: bytes = b"", *, accept: str = "*/*"
) -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: {accept}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode("latin-1") + body


def frames(pieces: list[Piece], delimiter: bytes) -> Iterator[tuple[float, bytes]]:
    """Split a body into frames, each stamped with the read that completed it."""
    buffer = b""
    for t, piece in pieces:
        buffer += piece.replace(b"\r\n", b"\n") if b"\r" in piece else piece
        start = 0
        while True:
            end = buffer.find(delimiter, start)
            if end < 0:
                break
            if end > start:
                yield t, buffer[start:end]
            start = end + len(delimiter)
        buffer = buffer[start:]
    if buffer.strip():
        yield pieces[-1][0], buffer


async def fetch(
    host: str, port: int, method: str, path: str, body: bytes = b"", timeout: float = 10.0
) -> Response:
    """One request on a fresh connection (health checks, version probes)."""
    conn = await Connection.open(host, port)
    try:
        raw = build_request(host, port, method, path, body)
        async with asyncio.timeout(timeout):  # not wait_for: it can lose a cancel (kitt/cancelling.py)
            return await conn.request(raw, head=method == "HEAD")
    finally:
        conn.close()
