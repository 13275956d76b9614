"""A reference OpenAI-compatible streaming server that knows the truth about its own timing.

It emits one token per stream on a shared absolute tick (default every 10 ms), so the true TTFT and ITL
are known on the server side: the time each token was written. `bench/loadgen.py` and the load
generator's tests compare what a client measures with `GET /truth`. `--fail-every N --fail-with KIND`
fails every N-th completion request on purpose, with an HTTP status (`503`), a dropped connection
(`reset`), an error event in the stream (`engine`) or an event that is not JSON (`malformed`); the truth
counts them. Run it with `python -m kitt.bench.stubserver --port P [--tick-ms 10]`.
"""

import argparse
import asyncio
import signal
import time

import msgspec

from kitt import stats

_CHUNK = (
    b'data: {"id":"cmpl-stub","object":"text_completion",'
    b'"choices":[{"index":0,"text":" tok","finish_reason":null}]}\n\n'
)
_CHAT_CHUNK = (
    b'data: {"id":"chatcmpl-stub","object":"chat.completion.chunk",'
    b'"choices":[{"index":0,"delta":{"content":" tok"},"finish_reason":null}]}\n\n'
)


FAILURES = ("reset", "engine", "malformed")


class _Body(msgspec.Struct):
    max_tokens: int | None = None
    max_completion_tokens: int | None = None  # the chat API's name for it


def _chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


class Truth:
    def __init__(self) -> None:
        self.ttft: list[float] = []
        self.itl: list[float] = []
        self.completed = 0
        self.failed = 0  # completion requests failed on purpose (--fail-every)

    def summary(self) -> dict[str, float]:
        out: dict[str, float] = {"completed": float(self.completed), "failed": float(self.failed)}
        for name, values in (("ttft", self.ttft), ("itl", self.itl)):
            if values:
                ordered = sorted(values)
                out[f"{name}_p50_ms"] = stats.percentile(ordered, 50) * 1000
                out[f"{name}_p99_ms"] = stats.percentile(ordered, 99) * 1000
        return out


class _Stream:
    __slots__ = ("arrived", "chunk", "last", "left", "not_before", "protocol", "sent", "transport")

    def __init__(
        self,
        protocol: "_Handler",
        transport: asyncio.Transport,
        tokens: int,
        chunk: bytes,
        delay_s: float = 0.0,
    ) -> None:
        self.protocol = protocol
        self.chunk = _chunk(chunk)
        self.transport = transport
        self.left = tokens
        self.sent = 0
        self.arrived = time.perf_counter()
        self.not_before = self.arrived + delay_s  # a loaded server starts a stream later
        self.last = 0.0


class StubServer:
    """`load_s`: each stream already running delays a new stream's first token by this much, so latency
    grows with load and an SLO search has a knee to find (concurrency c: TTFT ~ (c - 1) * load_s)."""

    def __init__(
        self,
        tick_s: float = 0.01,
        load_s: float = 0.0,
        metrics: bool = True,
        *,
        fail_every: int = 0,
        fail_with: str = "503",
    ) -> None:
        self.fail_every = fail_every
        self.fail_with = fail_with
        self.requests = 0  # completion requests received
        self.tick_s = tick_s
        self.load_s = load_s
        self.metrics = metrics  # serve /metrics, named as vLLM names them (simulated: the stub's own)
        self.streams: list[_Stream] = []
        self.truth = Truth()
        self.tokens_total = 0  # Prometheus counters: never reset, as an engine's are not
        self.prompt_tokens_total = 0
        self._ticker: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        start = time.perf_counter()
        n = 0
        while True:
            n += 1
            await asyncio.sleep(max(0.0, start + n * self.tick_s - time.perf_counter()))
            now = time.perf_counter()
            alive = []
            for s in self.streams:
                if s.transport.is_closing():
                    continue
                if s.sent == 0 and now < s.not_before:
                    alive.append(s)
                    continue
                s.transport.write(s.chunk)
                if s.sent == 0:
                    self.truth.ttft.append(now - s.arrived)
                else:
                    self.truth.itl.append(now - s.last)
                s.sent += 1
                self.tokens_total += 1
                s.last = now
                s.left -= 1
                if s.left > 0:
                    alive.append(s)
                else:
                    usage = (
                        b'data: {"choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d}}\n\n'
                        % (1, s.sent)
                    )
                    s.transport.write(_chunk(usage) + _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
                    self.truth.completed += 1
                    self.prompt_tokens_total += 1
                    s.protocol.busy = False
            self.streams = alive

    def prometheus(self) -> bytes:
        now = time.perf_counter()
        waiting = sum(1 for s in self.streams if s.sent == 0 and now < s.not_before)
        return (
            "# TYPE vllm:num_requests_running gauge\n"
            f'vllm:num_requests_running{{model_name="stub"}} {len(self.streams) - waiting}\n'
            "# TYPE vllm:num_requests_waiting gauge\n"
            f'vllm:num_requests_waiting{{model_name="stub"}} {waiting}\n'
            "# TYPE vllm:generation_tokens_total counter\n"
            f'vllm:generation_tokens_total{{model_name="stub"}} {self.tokens_total}\n'
            "# TYPE vllm:prompt_tokens_total counter\n"
            f'vllm:prompt_tokens_total{{model_name="stub"}} {self.prompt_tokens_total}\n'
        ).encode()

    def start(self) -> None:
        self._ticker = asyncio.get_running_loop().create_task(self._tick())

    def protocol(self) -> "_Handler":
        return _Handler(self)


class _Handler(asyncio.Protocol):
    def __init__(self, server: StubServer) -> None:
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self._route(head.split(" ", 2), body)

    def _route(self, request_line: list[str], body: bytes) -> None:
        assert self.transport is not None
        method, path = request_line[0], request_line[1]
        if method == "POST" and path in ("/v1/completions", "/v1/chat/completions"):
            self.server.requests += 1
            if self.server.fail_every and self.server.requests % self.server.fail_every == 0:
                self.server.truth.failed += 1
                self._fail(self.server.fail_with)
                return
            request = msgspec.json.decode(body, type=_Body)
            tokens = request.max_tokens or request.max_completion_tokens or 16
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            self.busy = True
            chunk = _CHAT_CHUNK if path.endswith("chat/completions") else _CHUNK
            delay = self.server.load_s * len(self.server.streams)
            self.server.streams.append(_Stream(self, self.transport, max(1, tokens), chunk, delay))
        elif path == "/truth":
            self._json(msgspec.json.encode(self.server.truth.summary()))
        elif path == "/reset":
            self.server.truth = Truth()
            self._json(b"{}")
        elif path == "/metrics" and self.server.metrics:
            self._reply(b"text/plain; version=0.0.4", self.server.prometheus())
        elif path in ("/health", "/v1/models"):
            self._json(b'{"status":"ok","data":[{"id":"stub"}]}')
        else:
            self.transport.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")

    def _fail(self, kind: str) -> None:
        """One completion request failed on purpose, the way `kind` says."""
        assert self.transport is not None
        if kind == "reset":
            self.transport.abort()
            return
        if kind in ("engine", "malformed"):
            event = (
                b'data: {"error":{"message":"injected engine error"}}\n\n'
                if kind == "engine"
                else b"data: {not json\n\n"
            )
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                + _chunk(event)
                + b"0\r\n\r\n"
            )
            return
        payload = b'{"error":{"message":"injected failure","code":%s}}' % kind.encode()
        self.transport.write(
            b"HTTP/1.1 %s Injected\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (kind.encode(), len(payload), payload)
        )

    def _json(self, payload: bytes) -> None:
        self._reply(b"application/json", payload)

    def _reply(self, kind: bytes, payload: bytes) -> None:
        assert self.transport is not None
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s"
            % (kind, len(payload), payload)
        )


async def serve(
    port: int,
    tick_s: float,
    host: str = "127.0.0.1",
    load_s: float = 0.0,
    metrics: bool = True,
    *,
    fail_every: int = 0,
    fail_with: str = "503",
) -> None:
    stub = StubServer(tick_s, load_s, metrics, fail_every=fail_every, fail_with=fail_with)
    stub.start()
    server = await asyncio.get_running_loop().create_server(stub.protocol, host, port, backlog=1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tick-ms", type=float, default=10.0)
    parser.add_argument(
        "--load-ms", type=float, default=0.0, help="first-token delay per stream already running"
    )
    parser.add_argument("--no-metrics", action="store_true", help="answer /metrics with 404")
    parser.add_argument("--fail-every", type=int, default=0, help="fail every N-th completion request")
    parser.add_argument("--fail-with", default="503", help="an HTTP status (503), reset, engine or malformed")
    args = parser.parse_args()
    if not (args.fail_with.isdigit() and len(args.fail_with) == 3) and args.fail_with not in FAILURES:
        parser.error(f"--fail-with: an HTTP status or one of {', '.join(FAILURES)}")
    asyncio.run(
        serve(
            args.port,
            args.tick_ms / 1000,
            load_s=args.load_ms / 1000,
            metrics=not args.no_metrics,
            fail_every=args.fail_every,
            fail_with=args.fail_with,
        )
    )


if __name__ == "__main__":
    main()
