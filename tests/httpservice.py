"""A small real HTTP service on a free loopback port (aiohttp), for what KITT talks to over HTTP in tests:
subclasses add their routes in `routes` and record what reached them in `seen`."""

from aiohttp import web

from kitt.children import free_port


class LocalService:
    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        self.runner: web.AppRunner | None = None
        self.port = free_port()

    def routes(self, router: web.UrlDispatcher) -> None:
        raise NotImplementedError

    async def start(self) -> str:
        app = web.Application()
        self.routes(app.router)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        assert self.runner is not None
        await self.runner.cleanup()
