"""The command service: answers requests on `kitt.cmd.<name>` (a queue group, so several can run)."""

import msgspec
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from kitt.commands.handler import execute
from kitt.commands.messages import COMMAND_TYPES, CommandReply
from kitt.events import subjects
from kitt.events.bus import EventBus

log = structlog.get_logger(__name__)
QUEUE = "kitt-commands"
_encoder = msgspec.json.Encoder()
_decoders = {name: msgspec.json.Decoder(cls) for name, cls in COMMAND_TYPES.items()}


class CommandService:
    def __init__(self, nc: Client) -> None:
        self._nc = nc
        self._bus = EventBus(nc)
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(subjects.command("*"), queue=QUEUE, cb=self._handle)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.drain()

    async def _handle(self, msg: Msg) -> None:
        reply = await self.answer(msg.subject.rsplit(".", 1)[-1], msg.data)
        if msg.reply:
            await msg.respond(_encoder.encode(reply))

    async def answer(self, name: str, data: bytes) -> CommandReply:
        decoder = _decoders.get(name)
        if decoder is None:
            return CommandReply(ok=False, code="invalid", error=f"unknown command {name!r}")
        try:
            command = decoder.decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            return CommandReply(ok=False, code="invalid", error=f"invalid {name} command: {exc}")
        try:
            reply = await execute(self._bus, command)
        except Exception as exc:  # a bug or an outage must still produce an answer
            log.exception("command failed", command=name)
            return CommandReply(ok=False, code="internal", error=f"{type(exc).__name__}: {exc}")
        log.debug(
            "command", command=name, ok=reply.ok, ids=reply.ids, code=reply.code, duplicate=reply.duplicate
        )
        return reply
