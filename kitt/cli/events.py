"""`kitt events tail|schema`."""

import asyncio

import click
import msgspec
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from kitt.cli.common import async_command, print_json, settings
from kitt.events import codec, subjects
from kitt.events.streams import EVENTS
from kitt.runtime.embedded import session


@click.group()
def events() -> None:
    """The event log."""


@events.command("schema")
def schema() -> None:
    """Print the JSON Schema of the envelope and every event type."""
    print_json(codec.json_schema())


@events.command("tail")
@click.option(
    "--subject", default=subjects.ALL_EVENTS, show_default=True, help="Subject filter, e.g. ev.run.>"
)
@click.option("--from-start", is_flag=True, help="Replay from the first event instead of only new ones.")
@click.option("-n", "--count", type=int, default=None, help="Stop after this many events.")
@async_command
async def tail(subject: str, from_start: bool, count: int | None) -> None:
    """Print committed events as JSON lines (follows until Ctrl-C)."""
    async with session(settings(), services=False) as s:
        queue: asyncio.Queue[Msg] = asyncio.Queue()

        async def on_msg(msg: Msg) -> None:
            await queue.put(msg)

        policy = DeliverPolicy.ALL if from_start else DeliverPolicy.NEW
        sub = await s.nc.jetstream().subscribe(
            subject, stream=EVENTS, cb=on_msg, ordered_consumer=True, deliver_policy=policy
        )
        seen = 0
        try:
            while count is None or seen < count:
                msg = await queue.get()
                line = {"seq": msg.metadata.sequence.stream, "subject": msg.subject}
                try:
                    envelope = codec.decode(msg.data, msg.headers)
                    click.echo(msgspec.json.encode({**line, "event": envelope}).decode())
                except (codec.UnknownEventType, codec.MalformedEvent) as exc:
                    click.echo(msgspec.json.encode({**line, "error": str(exc)}).decode())
                seen += 1
        finally:
            await sub.unsubscribe()
