"""Waiting for an engine to become healthy, and asking it its version."""

import asyncio
import time
from collections.abc import Awaitable, Callable

import msgspec

from kitt.engines import httpconn
from kitt.engines.runtime import Endpoint, EngineError


async def wait_healthy(
    endpoint: Endpoint,
    *,
    timeout_s: float,
    alive: Callable[[], Awaitable[bool]],
    last_logs: Callable[[], Awaitable[list[str]]],
) -> float:
    """Poll the health endpoint with backoff until it answers 200; the seconds it took."""
    started = time.monotonic()
    delay = 0.05
    last = "no answer yet"
    while True:
        if not await alive():
            message = f"{endpoint.spec.display} exited before becoming healthy"
            raise EngineError(_with_logs(message, await last_logs()))
        try:
            response = await httpconn.fetch(
                endpoint.host, endpoint.port, "GET", endpoint.spec.health_path, timeout=5
            )
            if response.status == 200:
                return time.monotonic() - started
            last = f"HTTP {response.status}"
        except (httpconn.HttpError, TimeoutError, OSError) as exc:
            last = str(exc) or type(exc).__name__
        elapsed = time.monotonic() - started
        if elapsed > timeout_s:
            message = f"{endpoint.spec.display} not healthy after {timeout_s:g}s (last: {last})"
            raise EngineError(_with_logs(message, await last_logs()))
        await asyncio.sleep(min(delay, max(0.0, timeout_s - elapsed)))
        delay = min(delay * 1.5, 2.0)


def _with_logs(message: str, lines: list[str]) -> str:
    if not lines:
        return message + "; it wrote no log lines"
    return message + "; its last log lines:\n  " + "\n  ".join(lines[-10:])


async def _reported(endpoint: Endpoint, path: str | None, field: str | None) -> object:
    """One field of the JSON an engine serves at `path` (`field` dotted, list indices as numbers), or None
    when the engine does not say: no such path, not JSON, no such field."""
    if path is None or field is None:
        return None
    try:
        response = await httpconn.fetch(endpoint.host, endpoint.port, "GET", path, timeout=5)
        if response.status != 200:
            return None
        value: object = msgspec.json.decode(response.body())
    except (httpconn.HttpError, TimeoutError, OSError, msgspec.DecodeError):
        return None
    for key in field.split("."):
        if isinstance(value, dict):
            value = value.get(key)
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return None
    return value


async def read_version(endpoint: Endpoint) -> str | None:
    """The engine's own report of its version, or None when it offers none."""
    value = await _reported(endpoint, endpoint.spec.version_path, endpoint.spec.version_field)
    return str(value) if value is not None else None


async def read_context_length(endpoint: Endpoint) -> int | None:
    """How many tokens (prompt and output) one request may hold, as the engine reports it; None if unsaid."""
    value = await _reported(endpoint, endpoint.spec.context_path, endpoint.spec.context_field)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
