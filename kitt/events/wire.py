"""A lean NATS protocol connection for KITT's hot paths: projector delivery and bulk appends.

nats-py builds a `Msg` per message, parses every header into a dict and hands each message through a queue
to a task: ~20 µs per message on this project's 2-core machine, more than decoding and folding the event.
This connection parses the protocol in place and calls a plain function per message (~4.5 µs with the
ordered delivery on top, docs/benchmarks.md), and batches
what it writes into one socket write per loop turn. It does one connection's worth of work and no more:
no reconnect (its users restart from their own position when it drops) and no request/reply helpers
(JetStream API calls stay on nats-py). Everything else in KITT uses nats-py.

A refusal that leaves the connection open (a permissions violation, an invalid subject) is passed to the
`on_error` callback, not treated as the end of the connection; any other -ERR is. The client PINGs the
server every `ping_interval_s` and gives the connection up when no PONG comes back in time, so a socket
that went half-open (a peer gone without a FIN) is noticed without waiting for the server.
"""

import asyncio
import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import ParseResult, quote, unquote, urlparse

from nats.aio.client import Client

# subject, reply, header block ("NATS/1.0 ..." or b"" when there is none), payload
Handler = Callable[[bytes, bytes, bytes, bytes], None]

_FLUSH_AT = 256 * 1024  # write at once beyond this; otherwise at the end of the loop turn
_MAX_CONTROL_LINE = 64 * 1024
_MESSAGE_OPS = frozenset(b"HM")  # the first byte of HMSG and MSG; nothing else the server sends


class WireError(Exception):
    """The connection failed or the server refused something (-ERR): its users start over."""


# -ERR texts after which the server keeps the connection open (nats-server's protocol errors).
_NON_FATAL = ("permissions violation", "invalid subject", "invalid publish subject")
ErrorHandler = Callable[[str], None]


@dataclass(frozen=True)
class Address:
    url: str  # nats://[user:password@ | token@]host:port, or tls://
    tls: ssl.SSLContext | None = None
    tls_hostname: str | None = None

    @classmethod
    def of(cls, nc: Client) -> "Address":
        """Where an open nats-py client is connected, with its credentials and TLS settings."""
        if nc.connected_url is None:
            raise WireError("the NATS client is not connected")
        url = nc.connected_url
        user, password, token = (str(nc.options.get(k) or "") for k in ("user", "password", "token"))
        if not url.username and (user or token):  # credentials passed as options reach every server
            secret = f"{quote(user, safe='')}:{quote(password, safe='')}" if user else quote(token, safe="")
            url = url._replace(netloc=f"{secret}@{url.netloc}")
        return cls(url.geturl(), nc.options.get("tls"), nc.options.get("tls_hostname"))


class Wire(asyncio.Protocol):
    def __init__(self, on_error: ErrorHandler | None = None) -> None:
        self.on_error = on_error
        self.errors: list[str] = []  # the non-fatal refusals so far (the last few)
        self._keepalive: asyncio.Task[None] | None = None
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._out = bytearray()
        self._flush_scheduled = False
        self._handlers: dict[bytes, Handler] = {}
        self._next_sid = 0
        self._info: asyncio.Future[dict[str, object]] = asyncio.get_running_loop().create_future()
        self._pongs: list[asyncio.Future[None]] = []
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # --- asyncio.Protocol -------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            self._parse()
        except Exception as exc:  # a handler or the parser failed: this connection is done
            self._fail(exc if isinstance(exc, WireError) else WireError(f"{type(exc).__name__}: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(WireError(f"connection lost: {exc}" if exc else "connection closed by the server"))

    # --- parsing ----------------------------------------------------------------------------------------

    def _parse(self) -> None:
        buf = self._buffer
        size = len(buf)
        pos = 0
        with memoryview(buf) as view:  # slices of a view copy once; slices of the bytearray twice
            while pos < size:
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    if size - pos > _MAX_CONTROL_LINE:
                        raise WireError("protocol line too long")
                    break
                if buf[pos] not in _MESSAGE_OPS:
                    line = bytes(view[pos:end])
                    pos = end + 2
                    self._control(line)
                    continue
                # MSG <subject> <sid> [reply] <size> | HMSG <subject> <sid> [reply] <header size> <size>
                args = bytes(view[pos:end]).split()
                start = end + 2
                stop = start + int(args[-1])
                if size < stop + 2:
                    break  # the rest of this message is still on its way
                headed = args[0] == b"HMSG"
                split = start + int(args[-2]) if headed else start
                handler = self._handlers.get(args[2])
                pos = stop + 2
                if handler is not None:
                    reply = args[3] if len(args) == (6 if headed else 5) else b""
                    handler(args[1], reply, bytes(view[start:split]), bytes(view[split:stop]))
        del buf[:pos]

    def _control(self, line: bytes) -> None:
        if line == b"PING":
            self._write(b"PONG\r\n")
        elif line == b"PONG":
            if self._pongs:
                waiter = self._pongs.pop(0)
                if not waiter.done():
                    waiter.set_result(None)
        elif line.startswith(b"INFO "):
            if not self._info.done():
                self._info.set_result(json.loads(line[5:]))
        elif line.startswith(b"-ERR"):
            reason = line[5:].decode(errors="replace").strip(chr(39) + " ")
            if not reason.lower().startswith(_NON_FATAL):
                raise WireError(f"NATS refused: {reason}")
            self.errors = [*self.errors[-9:], reason]
            if self.on_error is not None:
                self.on_error(reason)
        # +OK and anything newer are ignored

    def _fail(self, exc: WireError) -> None:
        if self._keepalive is not None and self._keepalive is not asyncio.current_task():
            self._keepalive.cancel()
        if not self.closed.done():
            self.closed.set_exception(exc)
            self.closed.exception()  # mark retrieved: a user may learn of it through a handler instead
        for waiter in self._pongs:
            if not waiter.done():
                waiter.set_exception(exc)
        self._pongs.clear()
        if not self._info.done():
            self._info.set_exception(exc)
        if self._transport is not None:
            self._transport.abort()

    # --- writing ----------------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        self._out += data
        if len(self._out) >= _FLUSH_AT:
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._out and self._transport is not None and not self._transport.is_closing():
            self._transport.write(bytes(self._out))
        self._out.clear()

    def publish(self, subject: str, payload: bytes, *, reply: str = "", headers: bytes = b"") -> None:
        if self.closed.done():
            raise WireError("connection closed")
        if headers:
            head = f"HPUB {subject} {reply} {len(headers)} {len(headers) + len(payload)}\r\n"
            self._write(head.encode() + headers + payload + b"\r\n")
        else:
            self._write(f"PUB {subject} {reply} {len(payload)}\r\n".encode() + payload + b"\r\n")

    def subscribe(self, subject: str, handler: Handler) -> bytes:
        self._next_sid += 1
        sid = str(self._next_sid).encode()
        self._handlers[sid] = handler
        self._write(b"SUB " + subject.encode() + b" " + sid + b"\r\n")
        return sid

    def unsubscribe(self, sid: bytes) -> None:
        if self._handlers.pop(sid, None) is not None and not self.closed.done():
            self._write(b"UNSUB " + sid + b"\r\n")

    async def flush(self, timeout: float = 5.0) -> None:
        """Round trip to the server: everything written before has been processed there."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pongs.append(waiter)
        self._write(b"PING\r\n")
        await asyncio.wait_for(waiter, timeout)

    def keep_alive(self, interval_s: float) -> None:
        """PING every `interval_s`; no PONG within it means the connection is dead (half-open)."""

        async def ping() -> None:
            while not self.closed.done():
                await asyncio.sleep(interval_s)
                try:
                    await self.flush(timeout=interval_s)
                except TimeoutError:
                    self._fail(WireError(f"stale connection: no PONG within {interval_s:g} s"))
                    return
                except WireError:
                    return

        self._keepalive = asyncio.create_task(ping(), name="wire keep-alive")

    def close(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
        self._flush()
        if self._transport is not None:
            self._transport.close()
        if not self.closed.done():
            self.closed.set_result(None)


async def connect(
    address: Address,
    *,
    name: str = "kitt",
    timeout: float = 5.0,
    ping_interval_s: float = 10.0,
    on_error: ErrorHandler | None = None,
) -> Wire:
    """Open a connection and authenticate with the URL's credentials; WireError says why it failed."""
    url = urlparse(address.url)
    host, port = url.hostname or "127.0.0.1", url.port or 4222
    loop = asyncio.get_running_loop()
    wire = Wire(on_error)
    try:
        transport, _ = await asyncio.wait_for(loop.create_connection(lambda: wire, host, port), timeout)
        info = await asyncio.wait_for(wire._info, timeout)
        if info.get("tls_required") or url.scheme == "tls":
            context = address.tls or ssl.create_default_context()
            upgraded = await asyncio.wait_for(
                loop.start_tls(transport, wire, context, server_hostname=address.tls_hostname or host),
                timeout,
            )
            assert isinstance(upgraded, asyncio.Transport)
            wire._transport = upgraded
        wire._write(b"CONNECT " + json.dumps(_connect_options(url, name)).encode() + b"\r\n")
        await wire.flush(timeout)
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        wire.close()
        raise WireError(f"cannot connect to NATS at {host}:{port}: {exc or type(exc).__name__}") from None
    except WireError:
        wire.close()
        raise
    wire.keep_alive(ping_interval_s)
    return wire


def _connect_options(url: ParseResult, name: str) -> dict[str, object]:
    options: dict[str, object] = {
        "verbose": False,
        "pedantic": False,
        "headers": True,
        "no_responders": True,
        "protocol": 1,
        "lang": "python-kitt-wire",
        "version": "1",
        "name": name,
    }
    if url.username and url.password is not None:
        options["user"] = unquote(url.username)
        options["pass"] = unquote(url.password)
    elif url.username:
        options["auth_token"] = unquote(url.username)
    return options


def header_fields(block: bytes) -> dict[str, str]:
    """The `Name: value` fields of a header block (its status line dropped); only read on slow paths."""
    fields: dict[str, str] = {}
    for line in block.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            fields[name.strip().decode("ascii", "replace")] = value.strip().decode("utf-8", "replace")
    return fields
