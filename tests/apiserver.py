"""The API as `kitt up` serves it, for tests: uvicorn in the runtime's event loop on a free port, and an
HTTP client for it. (Litestar's test client runs the app on another event loop, where the runtime's NATS
connection cannot answer.)"""

import contextlib
import dataclasses
from typing import Any
from urllib.parse import urlsplit

import httpx
from litestar import Litestar

from kitt.agent import testagents
from kitt.agent.simulated import SimulatedHost
from kitt.api.app import create_app
from kitt.api.context import ApiContext
from kitt.api.server import ApiServer
from kitt.auth import localtoken, tokens
from kitt.children import free_port
from kitt.commands.client import send
from kitt.commands.messages import ProvisionAgent
from kitt.runtime.embedded import Runtime

TOKEN = "s3cret-api-token"


def app_for(rt: Runtime, token: str | None = None, **changes: Any) -> Litestar:
    """The app on a port of its own (`own_url`): what install scripts and Host checks go by. Without a
    token, as `kitt up` serves it with KITT_AUTH_TOKEN unset: behind the owner's KITT_HOME/api-token."""
    context = ApiContext(
        nc=rt.nc,
        db=rt.engine,
        home=rt.settings.home,
        agent_url=rt.agent_url,
        auth_token=token,
        position=rt.position,  # as `kitt up` serves it: reads cached by projection position
        agent_ca=rt.agent_ca,
        public_url=rt.public_url,
        own_url=f"http://127.0.0.1:{free_port()}",
        local_token=None if token else localtoken.load_or_create(rt.settings.home),
    )
    return create_app(dataclasses.replace(context, **changes))


def server_for(app: Litestar) -> ApiServer:
    own = urlsplit(app.state.kitt.own_url)
    return ApiServer(app, own.hostname or "127.0.0.1", own.port or 8080)


def owner_headers(app: Litestar) -> dict[str, str]:
    """What the owner's tools send to an app without KITT_AUTH_TOKEN: the local token as a bearer."""
    local = app.state.kitt.local_token
    return {"Authorization": f"Bearer {local}"} if local else {}


@contextlib.asynccontextmanager
async def serving(app: Litestar, *, as_owner: bool = True):
    """A client for the app; without KITT_AUTH_TOKEN it is the owner's unless `as_owner=False`."""
    server = server_for(app)
    await server.start()
    headers = owner_headers(app) if as_owner else {}
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=60, headers=headers) as client:
            yield client
    finally:
        await server.stop()


async def test_agent(rt: Runtime, name: str, speed: float = 0.05) -> None:
    """A simulated agent inside the runtime (its results are marked simulated)."""
    token = tokens.new()
    testagents.save(
        rt.settings.home, testagents.TestAgentFile(host=SimulatedHost(name=name, speed=speed), token=token)
    )
    await send(rt.nc, ProvisionAgent(name=name, token_hash=tokens.digest(token)))


test_agent.__test__ = False  # a helper, not a test


async def log_in(client: httpx.AsyncClient, token: str) -> None:
    """Log the client's cookie jar in through the login form, as a browser does (no bearer after it)."""
    client.headers.pop("Authorization", None)
    answer = await client.post("/login", data={"token": token, "next": "/"})
    assert answer.status_code == 303, answer.text
