"""The one way a test waits: on a fact (an event, a checkpoint, a log line, a socket), polled until it
holds, under one timeout policy, failing with what was awaited and what was last seen.

Tests never sleep to let something happen; `tests/test_architecture.py` fails on a `time.sleep` or
`asyncio.sleep` anywhere in `tests/` but here. The timeouts are generous ceilings, not expectations: a
fact that holds returns at once, so a busy machine costs time, never a red run. `KITT_TEST_TIMEOUT_SCALE`
stretches every ceiling (a slower machine than CI's)."""

import asyncio
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

SCALE = float(os.environ.get("KITT_TEST_TIMEOUT_SCALE", "1"))
DEFAULT_S = 15.0


def _message(what: str, timeout: float, value: object, seen: Callable[[], object] | None) -> str:
    text = f"waited {timeout:g} s for {what}; last value: {value!r}"
    if seen is not None:
        text += f"\nseen meanwhile:\n{seen()}"
    return text


async def eventually(
    predicate: Callable[[], Awaitable[T]],
    timeout: float = DEFAULT_S,
    interval: float = 0.05,
    *,
    what: str | None = None,
    seen: Callable[[], object] | None = None,
) -> T:
    """Poll an async predicate until it is truthy and return its value; fail with the last value and
    `seen()` (a log tail, the phases so far) if it is not within the (scaled) timeout."""
    limit = timeout * SCALE
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    value: T | None = None
    while True:
        value = await predicate()
        if value:
            return value
        if loop.time() >= deadline:
            raise AssertionError(_message(what or _name(predicate), limit, value, seen))
        await asyncio.sleep(interval)


def until(
    predicate: Callable[[], T],
    timeout: float = DEFAULT_S,
    interval: float = 0.05,
    *,
    what: str | None = None,
    seen: Callable[[], object] | None = None,
) -> T:
    """`eventually` for synchronous tests and helpers (a subprocess, a file, a socket)."""
    limit = timeout * SCALE
    deadline = time.monotonic() + limit
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(_message(what or _name(predicate), limit, value, seen))
        time.sleep(interval)


async def elapse(seconds: float) -> None:
    """Let time pass where the passing of time is itself the thing under test or simulated (a recorded
    stream's gaps, a reader too slow to keep up), never to let something else happen."""
    await asyncio.sleep(seconds)


def _name(predicate: Callable[..., object]) -> str:
    return getattr(predicate, "__qualname__", repr(predicate))


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """A fact to wait on: something accepts connections on host:port."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0
