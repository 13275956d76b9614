"""The runtime: NATS (embedded child or external), streams, migrations, command service and projectors.

`kitt up` runs it until SIGTERM/SIGINT; other commands borrow a running one or start it for their duration.
Stopping drains in order: stop taking commands, let projectors finish their batch, close NATS, stop the
server. Nothing is lost: whatever a projector had not committed is read again from its checkpoint.
"""

import asyncio
import os
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

import nats
import nats.errors
import structlog
from nats.aio.client import Client
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from kitt.auth import ca, credentials
from kitt.auth.callout import CalloutService
from kitt.commands.service import CommandService
from kitt.config import Settings
from kitt.events import streams
from kitt.orchestration.campaigns import CampaignManager
from kitt.orchestration.dispatcher import Dispatcher
from kitt.orchestration.ingestor import Ingestor
from kitt.orchestration.scheduler import Scheduler
from kitt.projections import migrate
from kitt.projections.db import create_engine
from kitt.projections.lease import Lease
from kitt.projections.registry import all_projections
from kitt.projections.runner import Projector
from kitt.runtime import instance, network
from kitt.runtime.nats_server import NatsServer, WebSocketListener

if TYPE_CHECKING:  # the agents' executor and its imports load only where a runtime runs agents
    from kitt.agent.localagent import LocalAgent
    from kitt.agent.testagents import TestAgents

log = structlog.get_logger(__name__)


class RuntimeUnavailable(Exception):
    """A one-line, user-facing reason the runtime could not start."""


def tls_context(ca: str | None) -> ssl.SSLContext | None:
    """A client context trusting `ca` (a self-signed server certificate is its own CA)."""
    return ssl.create_default_context(cafile=ca) if ca else None


def _servers(url: str) -> tuple[list[str], dict[str, str]]:
    """A URL, or a comma-separated list of a cluster's URLs, as servers without credentials and the
    credentials as options: nats-py sends options to every server, the ones a cluster announces included,
    but a URL's user and password only to that URL's server, so a failover would connect unauthenticated."""
    servers = [u.strip() for u in url.split(",") if u.strip()]
    first = urlparse(servers[0])
    auth: dict[str, str] = {}
    if first.username and first.password is not None:
        auth = {"user": unquote(first.username), "password": unquote(first.password)}
    elif first.username:
        auth = {"token": unquote(first.username)}
    return [credentials.url_without(u) for u in servers], auth


PROBE_S = 5.0  # a TCP connect to the server
HANDSHAKE_S = 10.0  # NATS's CONNECT and its answer, which waits on the auth callout: slower under load


def _why(exc: BaseException) -> str:
    """An error's text; a timeout has none of its own."""
    if isinstance(exc, TimeoutError):
        return str(exc) or "timed out"
    return str(exc) or type(exc).__name__


async def _reachable(servers: list[str]) -> None:
    # A plain TCP probe first: nats-py retries an unreachable server for a long time before failing.
    failure = "no server"
    for server in servers:
        parsed = urlparse(server)
        try:
            _reader, writer = await asyncio.wait_for(
                asyncio.open_connection(parsed.hostname or "127.0.0.1", parsed.port or 4222), PROBE_S
            )
            writer.close()
            return
        except TimeoutError:
            failure = f"no TCP connection within {PROBE_S:g} s"
        except OSError as exc:
            failure = _why(exc)
    raise RuntimeUnavailable(f"cannot reach NATS at {', '.join(servers)}: {failure}")


async def connect_nats(url: str, *, tls_ca: str | None = None) -> Client:
    async def _quiet(_exc: Exception) -> None:
        return None

    servers, auth = _servers(url)
    shown = ", ".join(servers)  # errors and logs never carry a password
    await _reachable(servers)
    secure = servers[0].startswith(("tls://", "wss://"))
    try:
        return await nats.connect(
            servers,
            tls=tls_context(tls_ca) if secure else None,
            connect_timeout=HANDSHAKE_S,
            max_reconnect_attempts=-1,
            allow_reconnect=True,
            error_cb=_quiet,
            reconnect_time_wait=0.5,
            **auth,
        )
    except TimeoutError:
        why = f"no answer to NATS's handshake within {HANDSHAKE_S:g} s"
        raise RuntimeUnavailable(f"cannot reach NATS at {shown}: {why}") from None
    except (OSError, nats.errors.NoServersError) as exc:
        raise RuntimeUnavailable(f"cannot reach NATS at {shown}: {_why(exc)}") from None
    except nats.errors.Error as exc:
        raise RuntimeUnavailable(f"NATS at {shown} refused KITT's connection: {exc}") from None


async def open_database(url: str, *, migrate_schema: bool = True) -> AsyncEngine:
    engine = create_engine(url)
    try:
        if migrate_schema:
            await migrate.upgrade(engine)
        else:
            async with engine.connect():
                pass
    except (OperationalError, DBAPIError, OSError) as exc:
        await engine.dispose()
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise RuntimeUnavailable(f"cannot use the database {_redact(url)}: {reason}") from None
    return engine


def _redact(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        services: bool = True,
        batch_size: int = 2000,
        agents: str | None = None,  # `kitt up --agents HOST:PORT` (or "off"); None: as kept in the home
        public_url: str | None = None,  # `kitt up --public-url URL` (or "off")
    ) -> None:
        self.settings = settings
        self._services = services  # False: only NATS, streams and the database (for admin commands)
        self._batch_size = batch_size
        self._network_options = {"agents": agents, "public_url": public_url}
        self.network: network.Network | None = None
        self.server: NatsServer | None = None
        self.nc: Client | None = None
        self.engine: AsyncEngine | None = None
        self.projectors: list[Projector] = []
        self._commands: CommandService | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = instance.HomeLock(settings.home)
        self._credentials: credentials.ServerCredentials | None = None
        self._auth_clients: list[Client] = []
        self._test_agents: TestAgents | None = None
        self._local_agent: LocalAgent | None = None
        self.ingestor: Ingestor | None = None  # the report ingestor, once started (tests watch its counters)
        self._api_url: str | None = None
        self.callout: CalloutService | None = None

    @property
    def local_agent_url(self) -> str:
        """Where agents beside the runtime connect (its local and test agents): the loopback client port
        kept across restarts, or the external NATS as the runtime itself reaches it."""
        if self.server is not None:
            return self.server.url
        first = (self.settings.nats_url or "").split(",")[0].strip()  # a cluster's nodes announce the rest
        return credentials.url_without(first)

    @property
    def agent_url(self) -> str:
        """Where agents are told to connect: never with credentials in it (they bring their own token)."""
        remote = network.agent_url(self.network) if self.network is not None else None
        if remote is None and self.settings.agent_nats_url:
            remote = credentials.url_without(self.settings.agent_nats_url)
        return remote or self.local_agent_url

    @property
    def agent_ca(self) -> str | None:
        """The certificate an agent checks the server's against (None: plain NATS, or a public CA)."""
        if self.network is not None and self.network.agents:
            return str(ca.authority(self.settings.home).cert)
        return self.settings.trusted_ca

    @property
    def public_url(self) -> str | None:
        """The server's base URL as agents and install.sh see it (`--public-url`, or KITT_PUBLIC_URL)."""
        kept = self.network.public_url if self.network is not None else None
        return kept or self.settings.public_url

    @property
    def nats_url(self) -> str:
        """Where KITT's own clients connect: as the `kitt` service user."""
        if self.server is not None and self._credentials is not None:
            return credentials.url_with(self.server.url, "kitt", self._credentials.kitt_password)
        return self.settings.nats_url or ""

    async def start(self) -> None:
        home = self.settings.prepare_home()
        try:
            await self._start(home)
        except BaseException:
            await self.stop()
            raise
        log.debug(
            "kitt runtime started",
            home=str(home),
            nats=self.local_agent_url,
            agents=self.agent_url,
            database=_redact(self.settings.database_url),
        )

    async def _start(self, home) -> None:
        if not self._lock.acquire():
            raise RuntimeUnavailable(f"another KITT runtime is starting or running for {home}")
        if self.settings.nats_url is None:
            await self._start_server(home)
        self.nc = await connect_nats(self.nats_url, tls_ca=self.settings.trusted_ca)
        await streams.apply(self.nc.jetstream(), self.settings.stream_limits())
        self.engine = await open_database(self.settings.database_url)
        if self._services:
            await self._start_services()
            self._record()

    async def _start_server(self, home) -> None:
        """The embedded nats-server: accounts and auth callout always; the agent listener when asked."""
        try:
            self.network = network.resolve(home, **self._network_options)
        except network.NetworkError as exc:
            raise RuntimeUnavailable(str(exc)) from None
        self._credentials = credentials.load_or_create(home / "auth.json")
        tls = None
        if self.settings.nats_tls_cert and self.settings.nats_tls_key:
            tls = (self.settings.nats_tls_cert, self.settings.nats_tls_key)
        websocket = None
        if self.network.agents:
            host, port = network.parse_listen(self.network.agents)
            pair = ca.issue(home, "nats-agents", network.agent_hosts(self.network))
            websocket = WebSocketListener(host, port, str(pair.cert), str(pair.key))
        self.server = NatsServer(
            self.settings.nats_store,
            port=self.network.client_port,
            extra_config=credentials.server_config(self._credentials),
            tls=tls,
            websocket=websocket,
        )
        await asyncio.to_thread(self.server.start)

    @property
    def commands(self) -> CommandService | None:
        """This process's command service (None before services start, or with services off)."""
        return self._commands

    def position(self, projection: str) -> int | None:
        """The last sequence this process's projector for `projection` committed; None where it does not
        project it now (not run here, restarting, or another process holds its lease)."""
        return next(
            (p.checkpoint for p in self.projectors if p.projection.name == projection and p.active), None
        )

    async def _start_services(self) -> None:
        assert self.nc is not None and self.engine is not None
        self._commands = CommandService(self.nc)
        await self._commands.start()
        for projection in all_projections(self.settings.influxdb):
            projector = Projector(projection, self.nc, self.engine, batch_size=self._batch_size)
            self.projectors.append(projector)
            if self.settings.nats_url is not None:  # `kitt serve`: other processes may project it too
                lease = Lease(self.nc, projection.name, replicas=self.settings.stream_replicas)
                running = lease.hold(self._stop, projector.run)
            else:
                running = projector.run(self._stop)
            self._tasks.append(asyncio.create_task(running, name=f"projector:{projection.name}"))
        if self._credentials is not None and self.server is not None:
            await self._start_callout(self._credentials, self.server.url)
        elif self.settings.nats_url is not None and self.settings.callout is not None:
            auth_password, sys_password, seed = self.settings.callout
            creds = credentials.ServerCredentials(
                issuer_seed=seed, kitt_password="", auth_password=auth_password, sys_password=sys_password
            )
            await self._start_callout(creds, self.settings.nats_url)
        from kitt.agent.localagent import LocalAgent
        from kitt.agent.testagents import TestAgents

        self._test_agents = TestAgents(
            self.settings.home, self.nc, self.local_agent_url, self.settings.trusted_ca
        )
        await self._test_agents.start()
        self._local_agent = LocalAgent(
            self.settings.home, self.nc, self.local_agent_url, self.settings.trusted_ca
        )
        await self._local_agent.start()
        manager = CampaignManager(self.nc)
        self._tasks.append(asyncio.create_task(manager.run(self._stop), name="campaign-manager"))
        scheduler = Scheduler(self.nc, self.settings.home)
        self._tasks.append(asyncio.create_task(scheduler.run(self._stop), name="scheduler"))
        dispatcher = Dispatcher(
            self.nc,
            self.engine,
            test_timeout_s=self.settings.test_timeout_s,
            limits=self.settings.stream_limits(),
        )
        self._tasks.append(asyncio.create_task(dispatcher.run(self._stop), name="dispatcher"))
        self.ingestor = Ingestor(self.nc, self.engine, limits=self.settings.stream_limits())
        self._tasks.append(asyncio.create_task(self.ingestor.run(self._stop), name="ingestor"))

    async def _start_callout(self, creds: credentials.ServerCredentials, url: str) -> None:
        assert self.nc is not None and self.engine is not None
        ca = self.settings.trusted_ca
        auth_nc = await connect_nats(credentials.url_with(url, "auth", creds.auth_password), tls_ca=ca)
        sys_nc = await connect_nats(credentials.url_with(url, "sys", creds.sys_password), tls_ca=ca)
        self._auth_clients = [auth_nc, sys_nc]
        self.callout = CalloutService(auth_nc, sys_nc, self.nc, self.engine, creds.issuer_seed)
        await self.callout.start()

    def record_api(self, url: str) -> None:
        """The API's address goes into the instance record, so other commands can find it."""
        self._api_url = url
        self._record()

    def _record(self) -> None:
        instance.write(
            self.settings.instance_file,
            instance.InstanceRecord(
                pid=os.getpid(),
                nats_url=credentials.url_without(self.nats_url),  # the password stays in auth.json
                database_url=self.settings.database_url,
                started_at=instance.now(),
                api_url=self._api_url,
                agent_url=self.agent_url,
                agent_ca=self.agent_ca,
            ),
        )

    async def wait(self) -> None:
        """Until stop() is called; a projector that crashes takes the runtime down (loudly)."""
        stopped = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait([stopped, *self._tasks], return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        for task in self._tasks:
            failure = task.exception() if task.done() and not task.cancelled() else None
            if failure is not None:
                raise failure

    def request_stop(self) -> None:
        self._stop.set()

    async def stop(self) -> None:
        self._stop.set()
        instance.remove(self.settings.instance_file, os.getpid())
        if self._test_agents is not None:
            await _quietly(self._test_agents.stop())
        if self._local_agent is not None:
            await _quietly(self._local_agent.stop())
        if self._commands is not None:
            await _quietly(self._commands.stop())
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=15)
        for task in self._tasks:
            task.cancel()
        for client in self._auth_clients:
            await _quietly(client.close())
        if self.nc is not None and not self.nc.is_closed:
            await _quietly(self.nc.close())
        if self.engine is not None:
            await self.engine.dispose()
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)
        self._lock.release()
        log.debug("kitt runtime stopped")


async def _quietly(awaitable) -> None:
    try:
        await asyncio.wait_for(awaitable, 10)
    except Exception as exc:  # shutting down: report, do not mask the original cause
        log.warning("error while stopping", error=str(exc))


@dataclass
class Session:
    """What a CLI command needs: a NATS connection and the read-model database."""

    nc: Client
    engine: AsyncEngine
    runtime: Runtime | None  # set when this command started the runtime itself


def _service_url(settings: Settings, running: instance.InstanceRecord) -> str:
    """How this command reaches the running instance's NATS as KITT's service user."""
    if settings.nats_url is not None:
        return settings.nats_url  # distributed: the URL (and password) come from the environment
    auth = settings.home / "auth.json"
    if not auth.exists():
        raise RuntimeUnavailable(f"KITT is running for {settings.home}, but {auth} is missing")
    return credentials.url_with(running.nats_url, "kitt", credentials.load_or_create(auth).kitt_password)


@asynccontextmanager
async def session(settings: Settings, *, services: bool = True) -> AsyncIterator[Session]:
    """Use the `kitt up` running for this home, or run the embedded runtime for this command's duration."""
    running = instance.find_running(settings.instance_file)
    if running is not None:
        nc = await connect_nats(_service_url(settings, running), tls_ca=settings.trusted_ca)
        engine = await open_database(running.database_url, migrate_schema=False)
        try:
            yield Session(nc, engine, None)
        finally:
            await _quietly(nc.drain())
            await engine.dispose()
        return
    runtime = Runtime(settings, services=services)
    await runtime.start()
    try:
        assert runtime.nc is not None and runtime.engine is not None
        yield Session(runtime.nc, runtime.engine, runtime)
    finally:
        await runtime.stop()
