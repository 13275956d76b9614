"""Writes through the API are commands: sent like the CLI sends them, refusals mapped to HTTP statuses."""

from litestar.exceptions import ClientException, HTTPException, NotFoundException, PermissionDeniedException

from kitt.api.context import ApiContext
from kitt.commands.client import CommandFailed, send
from kitt.commands.messages import Command, CommandReply
from kitt.projections.runner import wait_for_checkpoint


class Conflict(HTTPException):
    status_code = 409


class Unavailable(HTTPException):
    status_code = 503


_STATUS = {"not_found": NotFoundException, "conflict": Conflict, "invalid": ClientException}
_STATUS |= {"forbidden": PermissionDeniedException}


async def execute(context: ApiContext, command: Command, *, wait_for: str | None = None) -> CommandReply:
    """Send `command`; with `wait_for` (a projection), return once that read model has applied it."""
    try:
        reply = await send(context.nc, command)
    except CommandFailed as exc:
        raise _STATUS.get(exc.reply.code or "", Unavailable)(detail=exc.reply.error or "refused") from None
    if wait_for is not None:
        await wait_for_checkpoint(context.db, wait_for, reply.seq)
    return reply
