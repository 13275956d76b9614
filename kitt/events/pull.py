"""Reading a JetStream pull consumer until told to stop: one loop for every service that pulls."""

import asyncio
from collections.abc import AsyncIterator, Callable

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext


async def batches(
    subscription: JetStreamContext.PullSubscription,
    stop: asyncio.Event,
    *,
    size: int | Callable[[], int],
    wait_s: float = 1.0,
) -> AsyncIterator[list[Msg]]:
    """Batches of up to `size` messages (a callable: asked before each fetch); an empty batch when `wait_s`
    passed with none (so callers can do periodic work), and a short pause while the connection is being
    re-established or while a cluster elects a leader.

    A stop ends a fetch's wait at once, not at its timeout, so a service stops in milliseconds. A message
    the abandoned request still brings is not acked: JetStream redelivers it after its ack wait, as it does
    a batch a service leaves unhandled when it stops."""
    stopped = asyncio.ensure_future(stop.wait())
    fetch: asyncio.Future[list[Msg]] | None = None
    try:
        while not stop.is_set():
            fetch = asyncio.ensure_future(
                subscription.fetch(size() if callable(size) else size, timeout=wait_s)
            )
            await asyncio.wait((fetch, stopped), return_when=asyncio.FIRST_COMPLETED)
            if not fetch.done():
                return
            try:
                batch = fetch.result()
            except (nats.errors.TimeoutError, TimeoutError):
                batch = []
            except (nats.errors.ConnectionClosedError, nats.errors.ConnectionReconnectingError):
                await asyncio.sleep(0.5)
                continue
            except (nats.js.errors.ServiceUnavailableError, nats.errors.NoRespondersError):
                # A cluster electing the consumer's (or stream's) leader answers 503 for a while: wait.
                await asyncio.sleep(0.5)
                batch = []
            yield batch
    finally:
        stopped.cancel()
        if fetch is not None and not fetch.done():
            fetch.cancel()
            await asyncio.wait((fetch,))  # its end, whatever it is: nothing of it outlives the loop
