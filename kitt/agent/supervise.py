"""Agents that live inside the runtime (its test agents and its local agent) are restarted after a
failure, with a doubling pause, instead of staying offline until the runtime restarts: a NATS cluster
answers JetStream calls with 503 while it elects a new leader, which an agent's start can meet. (A
`kitt-agent` process that fails exits, and its service manager restarts it.)"""

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)
SETTLED_S = 30.0  # a run that lasted this long starts the pauses again from the first


async def supervised(
    name: str,
    run: Callable[[asyncio.Event], Awaitable[None]],
    stop: asyncio.Event,
    *,
    first_s: float = 0.5,
    most_s: float = 30.0,
) -> None:
    """Run `run(stop)` until it returns (the agent stopped) or `stop` is set; start it again if it fails."""
    pause = first_s
    while not stop.is_set():
        began = time.monotonic()
        try:
            await run(stop)
            return
        except Exception as exc:  # whatever stopped it: say so and start it again
            if time.monotonic() - began >= SETTLED_S:
                pause = first_s
            log.warning("agent.restarting", agent=name, error=f"{type(exc).__name__}: {exc}", retry_s=pause)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)
        pause = min(pause * 2, most_s)
