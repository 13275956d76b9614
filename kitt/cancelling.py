"""A cancellation that was requested stays requested, even where Python 3.11 lost it.

Python 3.11's `asyncio.wait_for` returns its inner future's result instead of raising when a
cancellation lands just as that future completes (gh-86296, fixed in 3.12). nats-py waits that way on
every request and ack, so one Ctrl-C could be lost: `kitt run` interrupted during its first-token probe ran
its whole 60 s benchmark. The task still counts the request (`Task.cancelling()`; only `uncancel()`, which
`asyncio.timeout` calls for its own deadline, takes one back), so long-running work checks it where it
starts a step and stops there. KITT's own waits use `asyncio.timeout`, which has no such race.
"""

import asyncio


def requested() -> bool:
    """This task has been asked to cancel (whether or not the CancelledError reached it)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def check() -> None:
    """Raise CancelledError if this task has been asked to cancel: call where a step of long work begins."""
    if requested():
        raise asyncio.CancelledError
