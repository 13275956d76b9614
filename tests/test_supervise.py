"""In-runtime agents restart after a failure (kitt/agent/supervise.py)."""

import asyncio

from kitt.agent.supervise import supervised
from tests.waiting import eventually


async def test_a_failed_agent_is_started_again_until_it_stops():
    stop = asyncio.Event()
    starts = 0

    async def run(stopping: asyncio.Event) -> None:
        nonlocal starts
        starts += 1
        if starts < 3:
            raise RuntimeError("nats: ServiceUnavailableError")  # a cluster electing its leader
        await stopping.wait()

    task = asyncio.create_task(supervised("sim", run, stop, first_s=0.01))

    async def third() -> bool:
        return starts >= 3

    await eventually(third, 5, 0.01, what="the third start")
    assert not task.done()  # the third start is running
    stop.set()
    await asyncio.wait_for(task, 1)
    assert starts == 3


async def test_stopping_during_the_pause_ends_it_at_once():
    stop = asyncio.Event()

    failed = asyncio.Event()

    async def run(_stopping: asyncio.Event) -> None:
        failed.set()
        raise OSError("connection refused")

    task = asyncio.create_task(supervised("sim", run, stop, first_s=30))
    await asyncio.wait_for(failed.wait(), 5)  # it failed once and is now in its 30 s pause
    for _ in range(3):
        await asyncio.sleep(0)  # a yield, not a wait: into the pause
    stop.set()
    await asyncio.wait_for(task, 1)  # not after the 30 s pause
