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
    re-established or while a cluster elects a leader."""
    while not stop.is_set():
        try:
            yield await subscription.fetch(size() if callable(size) else size, timeout=wait_s)
        except (nats.errors.TimeoutError, TimeoutError):
            yield []
        except (nats.errors.ConnectionClosedError, nats.errors.ConnectionReconnectingError):
            await asyncio.sleep(0.5)
        except (nats.js.errors.ServiceUnavailableError, nats.errors.NoRespondersError):
            # A cluster electing the consumer's (or stream's) leader answers 503 for a moment: wait it out.
            await asyncio.sleep(0.5)
            yield []
