"""Live feeds against a real nats-server with the LOGS stream: a browser too slow to keep up is let go (its
stream ends, so its EventSource reconnects from its last id) while the others carry on; a feed whose
consumer cannot start fails everyone waiting for it at once, and does not hold up other subjects."""

import asyncio

import pytest

from kitt.api.fanout import FeedUnavailable, Hub
from tests.waiting import eventually


async def _publish(nc, subject: str, count: int) -> None:
    js = nc.jetstream()
    for n in range(count):
        await js.publish(subject, str(n).encode())


async def test_a_slow_browser_is_let_go_and_the_others_carry_on(nc):
    hub = Hub(nc, queue_size=5)
    subject = "log.a1.t1"
    slow = hub.follow(subject, None, idle_s=0.2)
    fast = hub.follow(subject, None, idle_s=0.2)
    assert await anext(slow) is None and await anext(fast) is None  # both joined, nothing yet
    got: list[int] = []

    async def keep_up() -> None:
        async for item in fast:
            if item is not None:
                got.append(int(item.data))
                if len(got) == 20:
                    return

    reader = asyncio.create_task(keep_up())
    for n in range(20):
        await nc.jetstream().publish(subject, str(n).encode())

        async def read(n: int = n) -> bool:  # the fast one reads each as it comes; the slow one reads nothing
            return len(got) > n

        await eventually(read, 10, 0.005, what=f"the fast browser to read message {n}")
    await asyncio.wait_for(reader, 10)
    assert got == list(range(20))
    held = [item async for item in slow if item is not None]  # what it held when let go, then the end
    assert [int(i.data) for i in held] == [0, 1, 2, 3, 4]
    assert len(hub.last[subject].subscribers) == 1
    await fast.aclose()
    assert not hub.feeds
    await hub.close()


async def test_a_feed_that_cannot_start_fails_its_waiters_and_blocks_nobody(nc):
    hub = Hub(nc)
    nowhere = hub.follow("no.stream.here", None)
    with pytest.raises(FeedUnavailable, match=r"cannot follow no\.stream\.here"):
        await asyncio.wait_for(anext(nowhere), 10)
    again = hub.follow("no.stream.here", None)
    with pytest.raises(FeedUnavailable):
        await asyncio.wait_for(anext(again), 10)  # a second try starts afresh and fails as fast
    fine = hub.follow("log.a1.t2", None, idle_s=0.2)
    assert await asyncio.wait_for(anext(fine), 10) is None  # another subject is not held up
    await _publish(nc, "log.a1.t2", 1)
    item = await asyncio.wait_for(anext(fine), 10)
    while item is None:
        item = await asyncio.wait_for(anext(fine), 10)
    assert item.data == b"0"
    await fine.aclose()
    assert not hub.feeds
    await hub.close()
