"""Quick tests on agents: request, list, detail, cancel, and the live log as Server-Sent Events.

The log stream reads committed messages from LOGS (`log.<its agent>.<test>`: no other agent's) through the
shared feed. Each event's SSE `id` is its stream sequence, so a browser that reconnects with
`Last-Event-ID` resumes right after the last line it saw: no gap, no duplicate. The stream ends when the
test has finished and its lines are out.
"""

import asyncio
from collections.abc import AsyncIterator

import msgspec
from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import Parameter
from litestar.response import Stream

from kitt.api.commands import execute
from kitt.api.context import ApiContext
from kitt.api.fanout import Hub, Item, sse, stream
from kitt.api.schemas import CancelRequest, Created, QuickTestRequest
from kitt.commands.messages import CancelTest, RequestTest
from kitt.events import logs, subjects
from kitt.events.types import TestSpec
from kitt.storage import fleet

FINAL = ("succeeded", "failed", "cancelled")


class TestsController(Controller):
    __test__ = False
    path = "/api/v1/tests"

    @post("/")
    async def request_test(self, request: Request, data: QuickTestRequest, wait: bool = False) -> Created:
        """A test on an agent; the command refuses an unknown or revoked agent, an unknown engine, a runtime
        the engine lacks, or an engine with no build for the agent's platform (unless `force`)."""
        test = TestSpec(
            model=data.model, engine=data.engine, suite=data.suite, runtime=data.runtime, force=data.force
        )
        reply = await execute(
            request, RequestTest(spec=test, agent=data.agent), wait_for="tests" if wait else None
        )
        return Created(id=reply.ids[0], seq=reply.seq)

    @get("/")
    async def list_tests(self, kitt: ApiContext, agent: str | None = None) -> list[fleet.Test]:
        return await fleet.tests(kitt.db, agent_name=agent)

    @get("/{test_id:str}")
    async def get_test(self, kitt: ApiContext, test_id: str) -> fleet.Test:
        found = await fleet.test(kitt.db, test_id)
        if found is None:
            raise NotFoundException(detail=f"unknown test {test_id!r}")
        return found

    @post("/{test_id:str}/cancel")
    async def cancel(self, request: Request, test_id: str, data: CancelRequest | None = None) -> Created:
        reason = data.reason if data else CancelRequest().reason
        reply = await execute(request, CancelTest(test_id=test_id, reason=reason), wait_for="tests")
        return Created(id=test_id, seq=reply.seq)

    @get("/{test_id:str}/logs")
    async def log_stream(
        self,
        kitt: ApiContext,
        request: Request,
        test_id: str,
        after: int = Parameter(default=0, ge=0, le=2**63 - 1),
    ) -> Stream:
        """The test's log lines as SSE (`event` is the line's source), then `end` with the final status.
        Resume with `Last-Event-ID` (or `?after=` a stream sequence already seen)."""
        if await fleet.test(kitt.db, test_id) is None:
            raise NotFoundException(detail=f"unknown test {test_id!r}")
        last = request.headers.get("last-event-id", "")
        after = max(after, int(last) if last.isdigit() else 0)
        return stream(_lines(kitt, request.app.state.hub, test_id, after))


def _log_frame(item: Item) -> bytes:
    try:
        line = logs.decode(item.data)
    except msgspec.DecodeError:
        return b""  # not a log line (an agent may write anything on its own subject): not shown
    return sse(line.line, event=line.source, id=item.seq)


async def _assigned(kitt: ApiContext, test_id: str) -> fleet.Test | None:
    """The test once it has an agent (or has ended without one), polled once a second."""
    while True:
        test = await fleet.test(kitt.db, test_id)
        if test is None or test.agent is not None or test.status in FINAL:
            return test
        await asyncio.sleep(1.0)


async def _lines(kitt: ApiContext, hub: Hub, test_id: str, after: int) -> AsyncIterator[bytes]:
    test = await _assigned(kitt, test_id)
    if test is None or test.agent is None:
        yield sse(test.status if test else "unknown", event="end")
        return
    status = None
    async for item in hub.follow(subjects.test_logs(test_id, test.agent), after):
        if item is None:  # a quiet second: has the test finished?
            test = await fleet.test(kitt.db, test_id)
            if test is not None and test.status in FINAL:
                yield sse(test.status, event="end")
                return
            if test is not None and test.status != status:
                status = test.status
                yield sse(status, event="status")
            continue
        yield item.frame(_log_frame)
