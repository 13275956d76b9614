"""Serving the API inside the runtime's event loop (uvicorn), stopped with the runtime."""

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn
from litestar import Litestar


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the runtime owns SIGTERM/SIGINT: uvicorn must not replace its handlers


class ApiServer:
    def __init__(
        self, app: Litestar, host: str, port: int, *, tls_cert: str | None = None, tls_key: str | None = None
    ) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="on",
            ssl_certfile=tls_cert,
            ssl_keyfile=tls_key,
        )
        self.server = _Server(config)
        self.task: asyncio.Task[None] | None = None
        self.url = f"{'https' if tls_cert else 'http'}://{host}:{port}"

    async def start(self) -> None:
        self.task = asyncio.create_task(self.server.serve(), name="api")
        while not self.server.started:
            if self.task.done():
                self.task.result()  # raise why it could not start (a port in use, say)
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.task, 10)
