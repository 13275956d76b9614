"""Real parts: a nats-server with JetStream per test, SQLite files and throwaway PostgreSQL databases."""

import asyncio
import os
import uuid
from pathlib import Path

import asyncpg
import nats
import pytest

from kitt.config import Settings
from kitt.events import streams
from kitt.models import tiny
from kitt.projections import migrate
from kitt.projections.db import create_engine, normalize_url
from kitt.runtime.embedded import Runtime
from kitt.runtime.nats_server import NatsServer

PG_ADMIN_DSN = os.environ.get("KITT_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def nats_server(tmp_path: Path):
    server = NatsServer(tmp_path / "nats")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def nc(nats_server: NatsServer):
    client = await nats.connect(nats_server.url, max_reconnect_attempts=1)
    await streams.apply(client.jetstream())
    yield client
    await client.close()


async def _create_pg_database() -> str:
    name = f"kitt_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    return f"{base}/{name}"


async def _drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request, tmp_path: Path):
    """Every projection test runs on both backends."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'karr.db'}"
        return
    url = await _create_pg_database()
    yield url
    await _drop_pg_database(url)


@pytest.fixture
async def engine(database_url: str):
    db = create_engine(database_url)
    await migrate.upgrade(db)
    yield db
    await db.dispose()


async def eventually(predicate, timeout: float = 15.0, interval: float = 0.05):
    """Poll an async predicate until it is truthy; return its value or fail with the last one."""
    deadline = asyncio.get_running_loop().time() + timeout
    value = None
    while asyncio.get_running_loop().time() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """The tiny GGUF in this test's own folder (a test may copy or rename it)."""
    return tiny.write(tmp_path / "models" / "tiny.gguf")


@pytest.fixture(scope="module")
def scorer():
    """The scoring test server in vLLM's flavor (see tests/scoring.py)."""
    from kitt.engines.runtime import Endpoint
    from kitt.engines.specs import get as get_spec
    from tests.scoring import serve

    process, port = serve()
    yield Endpoint(host="127.0.0.1", port=port, model="stub", spec=get_spec("vllm"))
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="module")
def no_echo():
    """The scoring test server as a llama.cpp-like engine that cannot echo prompt logprobs."""
    from kitt.engines.runtime import Endpoint
    from kitt.engines.specs import get as get_spec
    from tests.scoring import serve

    process, port = serve("--no-echo")
    yield Endpoint(host="127.0.0.1", port=port, model="stub", spec=get_spec("llama_cpp"))
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """The tiny random-weight llama GGUF that the real llama-server loads in milliseconds."""
    return tiny.write(tmp_path_factory.mktemp("models") / "tiny.gguf")


@pytest.fixture
async def runtime(database_url: str, tmp_path: Path):
    """The embedded runtime (nats-server child with accounts and the auth callout, migrations, command
    service, projectors) on that database: agents get in only with their own token."""
    home = tmp_path / "home"
    home.mkdir()
    rt = Runtime(Settings(home=home, nats_url=None, database_url=normalize_url(database_url)))
    await rt.start()
    yield rt
    await rt.stop()


@pytest.fixture
def agents(tmp_path):
    """Real `kitt-agent` processes (tests.agenthosts.AgentProcess), killed at the end if still running."""
    from tests.agenthosts import AgentProcess

    started: list[AgentProcess] = []

    def make(rt: Runtime, name: str, token: str, tls_ca: Path | None = None, capacity: int = 1):
        agent = AgentProcess(tmp_path / f"agent-{name}", name, token, rt.agent_url, tls_ca, capacity)
        started.append(agent)
        return agent

    yield make
    for agent in started:
        if agent.process is not None and agent.process.poll() is None:
            agent.stop(9)


@pytest.fixture(scope="session")
def kitt_image() -> str:
    """KITT's image, built once a session from this checkout on the local Debian base (real dockerd)."""
    from tests.dockerhost import build_kitt_image

    return build_kitt_image()
