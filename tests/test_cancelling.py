"""A cancellation lost inside Python 3.11's asyncio.wait_for is still seen by `kitt.cancelling`, so a
Ctrl-C that landed as a NATS reply (or the first-token probe's response) arrived still stops the run."""

import asyncio
import sys

import pytest

from kitt import cancelling


async def _lost_cancel(after) -> str:
    """Cancel a task whose wait_for's inner future completes in the same turn of the loop."""
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def work() -> str:
        got = await asyncio.wait_for(future, 10)
        after()
        return got

    task = asyncio.create_task(work())
    await asyncio.sleep(0)  # a yield: the task is now waiting inside wait_for
    future.set_result("reply")
    task.cancel()
    return await task


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.12's wait_for no longer loses a cancellation")
async def test_wait_for_loses_the_cancellation_on_this_python():
    assert await _lost_cancel(lambda: None) == "reply"  # the hazard kitt.cancelling exists for


async def test_a_lost_cancellation_is_still_requested_and_check_raises():
    seen: list[bool] = []

    def after() -> None:
        seen.append(cancelling.requested())
        cancelling.check()

    with pytest.raises(asyncio.CancelledError):
        await _lost_cancel(after)
    assert seen == [True]


async def test_no_cancellation_no_raise_and_a_timeout_is_not_a_cancellation():
    cancelling.check()
    assert not cancelling.requested()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0):
            await asyncio.Event().wait()
    assert not cancelling.requested()  # asyncio.timeout took its own cancellation back
    cancelling.check()
