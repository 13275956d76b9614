"""Writes through the API are commands: sent like the CLI sends them, refusals mapped to HTTP statuses.

The command's actor is stamped here from the request's authenticated principal; whatever an adapter or a
client put there is replaced, so an event always records who really asked.
"""

import time

import msgspec
from litestar import Request
from litestar.exceptions import ClientException, HTTPException, NotFoundException, PermissionDeniedException

from kitt.api.auth import Principal
from kitt.api.context import ApiContext
from kitt.commands.client import CommandFailed, send
from kitt.commands.messages import Command, CommandReply
from kitt.storage.checkpoints import wait_for_checkpoint


class Conflict(HTTPException):
    status_code = 409


class Unavailable(HTTPException):
    status_code = 503


_STATUS = {"not_found": NotFoundException, "conflict": Conflict, "invalid": ClientException}
_STATUS |= {"forbidden": PermissionDeniedException}


def principal(request: Request) -> Principal:
    found = request.state.get("user")
    if not isinstance(found, Principal):
        raise PermissionDeniedException("no principal for this request")
    return found


async def execute(request: Request, command: Command, *, wait_for: str | None = None) -> CommandReply:
    """Send `command` as the request's principal; with `wait_for` (a projection), return once that read
    model has applied it."""
    context: ApiContext = request.app.state.kitt
    command = msgspec.structs.replace(command, actor=principal(request).actor)
    timer = request.app.state.metrics.commands
    started = time.perf_counter()
    try:
        reply = await send(context.nc, command)
    except CommandFailed as exc:
        timer.labels(type(command).__name__, exc.reply.code or "failed").observe(
            time.perf_counter() - started
        )
        raise _STATUS.get(exc.reply.code or "", Unavailable)(detail=exc.reply.error or "refused") from None
    timer.labels(type(command).__name__, "ok").observe(time.perf_counter() - started)
    if wait_for is not None:
        await wait_for_checkpoint(context.db, wait_for, reply.seq)
    return reply
