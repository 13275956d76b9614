"""Log lines on the LOGS stream (`log.<agent>.<test or run id>`): engine output and benchmark progress."""

from datetime import datetime

import msgspec
import structlog
from nats.aio.client import Client

from kitt.events import subjects

log = structlog.get_logger(__name__)
STALL_S = 10.0  # a read that gets nothing this long while lines are pending returns what it has


class LogLine(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    source: str  # "engine" | "kitt"
    line: str
    at: datetime


encode = msgspec.json.Encoder().encode
decode = msgspec.json.Decoder(LogLine).decode


class Entry(msgspec.Struct, frozen=True):
    seq: int  # the LOGS stream sequence: where a live stream resumes
    source: str
    line: str


async def history(nc: Client, test_id: str, agent: str | None, *, limit: int = 2000) -> list[Entry]:
    """The log lines of a test so far from its assigned agent (none before it has one), the last `limit`."""
    if agent is None:
        return []
    return await read(nc, subjects.test_logs(test_id, agent), limit=limit)


async def read(nc: Client, subject: str, *, limit: int = 2000, stall_s: float = STALL_S) -> list[Entry]:
    """The log lines on a subject so far (the last `limit`). "So far" is a fact, the consumer's pending
    count reaching 0, not a pause: on a loaded machine a pause ended the read early and lost lines."""
    sub = await nc.jetstream().subscribe(subject, ordered_consumer=True)
    out: list[Entry] = []
    try:
        info = await sub.consumer_info()
        if info.num_pending == 0 and not (info.delivered and info.delivered.consumer_seq):
            return []  # nothing on the subject
        while True:
            try:
                msg = await sub.next_msg(timeout=stall_s)
            except TimeoutError:
                log.warning("logs.read_stalled", subject=subject, read=len(out))
                break  # what was read: a page shows it rather than hang
            try:
                line = decode(msg.data)
            except msgspec.DecodeError:  # an agent wrote something that is not a log line: skip it
                line = None
            if line is not None:
                out.append(Entry(seq=msg.metadata.sequence.stream, source=line.source, line=line.line))
            if msg.metadata.num_pending == 0:
                break
    finally:
        await sub.unsubscribe()
    return out[-limit:]
