"""Sending commands: what the CLI and the API use."""

import msgspec
import nats.errors
from nats.aio.client import Client

from kitt.commands.messages import Command, CommandReply, command_name
from kitt.events import subjects

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(CommandReply)


class CommandFailed(Exception):
    def __init__(self, reply: CommandReply) -> None:
        super().__init__(reply.error or "command failed")
        self.reply = reply


async def send(nc: Client, command: Command, *, timeout: float = 30.0) -> CommandReply:
    """Send a command and return its reply; raise CommandFailed when it was refused."""
    try:
        msg = await nc.request(
            subjects.command(command_name(command)), _encoder.encode(command), timeout=timeout
        )
    except nats.errors.NoRespondersError:
        raise CommandFailed(
            CommandReply(
                ok=False, code="unavailable", error="no command service is running (start `kitt up`)"
            )
        ) from None
    except (nats.errors.TimeoutError, TimeoutError):
        why = (
            f"no reply from the command service within {timeout:.0f} s; it may or may not have been applied "
            "(a NATS cluster may be electing a leader): check, then try again"
        )
        raise CommandFailed(CommandReply(ok=False, code="unavailable", error=why)) from None
    reply = _decoder.decode(msg.data)
    if not reply.ok:
        raise CommandFailed(reply)
    return reply
