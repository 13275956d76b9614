"""Which Devon KITT talks to: Devon's HTTP API when a URL is configured and answers, else the local
`devon` package, else the `devon` CLI (the seed's order). A Devon that answers but refuses (a wrong key)
is an error, not a reason to fall back: falling back would act on a different Devon's models."""

import structlog

from kitt.devon import command, package
from kitt.devon.http import HttpDevon
from kitt.devon.protocol import Devon, DevonError, DevonUnreachable

log = structlog.get_logger(__name__)


async def resolve(url: str | None, api_key: str | None = None) -> Devon:
    unreachable: str | None = None
    if url:
        remote = HttpDevon(url, api_key)
        try:
            version = await remote.health()
            log.debug("devon.remote", url=remote.url, version=version)
            return remote
        except DevonUnreachable as exc:
            unreachable = str(exc)
            log.warning("devon.unreachable", url=remote.url, falling_back=True)
    if package.available():
        return package.PackageDevon()
    executable = command.find()
    if executable is not None:
        return command.CliDevon(executable)
    first = f"{unreachable}, and" if unreachable else "DEVON_URL is not set,"
    raise DevonError(f"no Devon: {first} neither the devon package nor the devon CLI is installed here")
