"""Real parts: a nats-server with JetStream per test, SQLite files and one PostgreSQL database per worker."""

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import nats
import pytest

from kitt.children import free_port
from kitt.config import Settings
from kitt.engines.native import NativeRuntime
from kitt.engines.runtime import Launch
from kitt.engines.specs import get as get_spec
from kitt.events import streams
from kitt.models import tiny
from kitt.projections import migrate
from kitt.projections.db import create_engine, normalize_url
from kitt.runtime.embedded import Runtime
from kitt.runtime.nats_server import NatsServer
from tests import workers

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


def pytest_configure(config: pytest.Config) -> None:
    # This worker's band of ports, for the tests and every process they start (kitt.children.free_port).
    band = workers.port_range(workers.number())
    os.environ["KITT_PORT_RANGE"] = f"{band.start}-{band.stop - 1}"


def _selects_vllm(config: pytest.Config) -> bool:
    """Whether this session may run tests/test_vllm.py: the slow tier, and that file among the paths."""
    from _pytest.mark.expression import Expression

    marks = config.getoption("markexpr") or ""
    if marks and not Expression.compile(marks).evaluate(lambda name: name in ("slow", "xdist_group")):
        return False
    paths = [Path(a.split("::")[0]).resolve() for a in config.args]
    here = Path(__file__).resolve().parent / "test_vllm.py"
    return not config.args or any(here == p or p in here.parents for p in paths)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Build the real-vLLM tests' environment before any test starts (tests/vllmenv.py says why), once, in
    the process that hands out the tests; a failure is reported by those tests, not here."""
    config = session.config
    if hasattr(config, "workerinput") or not _selects_vllm(config):
        return
    from tests import vllmenv

    if vllmenv.installed_already():
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("building the vLLM CPU environment for tests/test_vllm.py (once per machine)")
    started = time.monotonic()
    _folder, failure = vllmenv.ensure()
    if reporter is not None:
        done = "failed" if failure else "done"
        reporter.write_line(f"the vLLM environment: {done} in {time.monotonic() - started:.0f} s")


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _reset_pg_database(url: str) -> None:
    """Empty the worker's database for the next test, whatever the last one left connected to it."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """This worker's own PostgreSQL database, created for the session and dropped after it."""
    run = getattr(request.config, "workerinput", {}).get("testrunuid") or uuid.uuid4().hex
    name = workers.database_name(workers.number(), run[:10])
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    yield f"{PG_ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def postgresql_url(pg_database: str) -> str:
    """The worker's database, emptied for this test."""
    asyncio.run(_reset_pg_database(pg_database))
    return pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every projection test runs on both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'karr.db'}"
    return str(request.getfixturevalue("postgresql_url"))


@pytest.fixture
async def engine(database_url: str):
    db = create_engine(database_url)
    await migrate.upgrade(db)
    yield db
    await db.dispose()


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
async def llama_server(tiny_model: Path):
    """The real llama-server on the tiny model, started by KITT's native runtime (as `kitt run` does)."""
    runtime = NativeRuntime()

    async def quiet(_line: str) -> None:
        return None

    spec = get_spec("llama_cpp")
    launch = Launch(spec=spec, model_path=str(tiny_model), served_name="tiny", port=free_port())
    started = await runtime.start(launch, quiet)
    try:
        yield started.endpoint
    finally:
        await runtime.stop()


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


# The budget: no single test may outlive this (setup, call and teardown together). A test that does fails
# the run by name, so the suite's time cannot creep up one test at a time unnoticed.
TEST_BUDGET_S = float(os.environ.get("KITT_TEST_BUDGET_S", "180"))
_durations: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _durations[report.nodeid] = _durations.get(report.nodeid, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    over = sorted(((s, n) for n, s in _durations.items() if s > TEST_BUDGET_S), reverse=True)
    if over:
        terminalreporter.section(f"tests over the {TEST_BUDGET_S:g} s budget", red=True, bold=True)
        for seconds, nodeid in over:
            terminalreporter.write_line(f"{seconds:7.1f} s  {nodeid}", red=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if any(s > TEST_BUDGET_S for s in _durations.values()) and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def phase():
    """Marks a multi-process test's phases with the time since it began: pytest shows them with a failure
    (which phase was slow or stuck on a busy machine)."""
    began = time.monotonic()

    def mark(name: str) -> None:
        print(f"{time.monotonic() - began:6.1f} s  {name}")

    return mark
