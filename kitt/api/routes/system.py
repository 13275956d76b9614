"""Health and version."""

from litestar import get

from kitt import __version__
from kitt.api.schemas import Health


@get("/api/v1/health")
async def health() -> Health:
    return Health(status="ok", version=__version__)
