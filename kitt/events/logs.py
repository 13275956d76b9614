"""Log lines on the LOGS stream (`log.<agent>.<test or run id>`): engine output and benchmark progress."""

from datetime import datetime

import msgspec
from nats.aio.client import Client

from kitt.events import subjects


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


async def history(nc: Client, test_id: str, *, limit: int = 2000, wait_s: float = 0.3) -> list[Entry]:
    """The log lines of a test or run so far (the last `limit`), read with an ordered consumer."""
    return await read(nc, subjects.test_logs(test_id), limit=limit, wait_s=wait_s)


async def read(nc: Client, subject: str, *, limit: int = 2000, wait_s: float = 0.3) -> list[Entry]:
    """The log lines on a subject so far (the last `limit`)."""
    sub = await nc.jetstream().subscribe(subject, ordered_consumer=True)
    out: list[Entry] = []
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=wait_s)
            except TimeoutError:
                break
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
