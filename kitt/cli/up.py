"""`kitt up`, `kitt serve` and `kitt web`: the runtime and the API/UI in the foreground until SIGTERM/Ctrl-C.

`up` is the embedded default (a nats-server child, SQLite in KITT_HOME); `serve` is the same process for a
distributed deployment and insists on an external NATS and database; `web` opens the UI of the instance
already running for this home, or starts one (with `--tls`, on a self-signed pair unless one is given).
"""

import asyncio
import ipaddress
import os
import signal
import socket
import sys
import webbrowser
from pathlib import Path

import click

from kitt.auth import ca, localtoken
from kitt.auth.credentials import url_without
from kitt.cli import weblogin
from kitt.cli.common import async_command, settings
from kitt.runtime import instance
from kitt.runtime.embedded import Runtime


def _serving_options(func):
    options = [
        click.option("--host", default="127.0.0.1", show_default=True, help="Where the API and UI listen."),
        click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535)),
        click.option(
            "--tls-cert", type=click.Path(exists=True, dir_okay=False), help="PEM certificate for HTTPS."
        ),
        click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="Its PEM private key."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command()
@_serving_options
@click.option("--no-api", is_flag=True, help="Run without the HTTP API and UI.")
@click.option("--tls", is_flag=True, help="Serve HTTPS; without --tls-cert/--tls-key, on KITT's own CA.")
@click.option(
    "--agents",
    metavar="HOST:PORT",
    help="Listen for agents on other hosts here (TLS, KITT's CA; kept for later starts; 'off' to stop).",
)
@click.option(
    "--public-url",
    metavar="URL",
    help="This server's address as agents see it, e.g. https://kitt.lab:8080 (kept; 'off' to forget).",
)
@async_command
async def up(
    host: str,
    port: int,
    tls_cert: str | None,
    tls_key: str | None,
    no_api: bool,
    tls: bool,
    agents: str | None,
    public_url: str | None,
) -> None:
    """Start KITT on the embedded defaults (nats-server child, SQLite in KITT_HOME) and keep it running."""
    if tls and not tls_cert:
        tls_cert, tls_key = _kitt_pair(host, public_url)
    await _run(host, port, tls_cert, tls_key, serve_api=not no_api, agents=agents, public_url=public_url)


def _kitt_pair(host: str, public_url: str | None) -> tuple[str, str]:
    from urllib.parse import urlsplit

    from kitt.api.tls import web_pair

    public_host = urlsplit(public_url).hostname if public_url and public_url != "off" else None
    cert, key = web_pair(settings().prepare_home(), host, public_host)
    return str(cert), str(key)


@click.command()
@_serving_options
@async_command
async def serve(host: str, port: int, tls_cert: str | None, tls_key: str | None) -> None:
    """Serve the API, UI, command handlers and process managers against an external NATS and database
    (KITT_NATS_URL, KITT_DATABASE_URL): the distributed deployment."""
    missing = [v for v in ("KITT_NATS_URL", "KITT_DATABASE_URL") if not os.environ.get(v)]
    if missing:
        raise click.ClickException(
            f"kitt serve is for a distributed deployment: set {' and '.join(missing)} (or use `kitt up`)"
        )
    await _run(host, port, tls_cert, tls_key, serve_api=True)


@click.command()
@_serving_options
@click.option("--tls", is_flag=True, help="Serve HTTPS; without --tls-cert/--tls-key, on a self-signed pair.")
@click.option("--no-open", is_flag=True, help="Print the address instead of opening a browser.")
@async_command
async def web(
    host: str, port: int, tls_cert: str | None, tls_key: str | None, tls: bool, no_open: bool
) -> None:
    """Open the web UI: of the KITT already running for this home, or of one started now."""
    cfg = settings()
    running = instance.find_running(cfg.instance_file)
    if running is not None and running.api_url:
        _open(running.api_url, no_open)
        return
    if running is not None:
        raise click.ClickException(f"KITT is running for {cfg.home} without its API (started with --no-api)")
    if tls and not tls_cert:
        tls_cert, tls_key = _kitt_pair(host, None)
    await _run(host, port, tls_cert, tls_key, serve_api=True, on_ready=lambda url: _open(url, no_open))


def _ca_line(path: str | None) -> str:
    if not path:
        return "no CA"
    return f"CA {path}, SHA-256 {ca.fingerprint(Path(path).read_bytes())}"


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _dialable(host: str) -> str:
    """An address others can use for this host (a wildcard bind is not one)."""
    if host in ("0.0.0.0", "::", ""):
        return socket.getfqdn()
    return f"[{host}]" if ":" in host else host


def _issued_by(cert: str, authority: str) -> bool:
    from cryptography import x509

    try:
        issuer = x509.load_pem_x509_certificate(Path(cert).read_bytes()).issuer
        return issuer == x509.load_pem_x509_certificate(Path(authority).read_bytes()).subject
    except (OSError, ValueError):
        return False


def _open(url: str, no_open: bool) -> None:
    """Print the address and open the browser, logged in as this home's owner when KITT_AUTH_TOKEN is
    unset (through a local login page: the token never goes in a URL)."""
    click.echo(f"KITT web UI: {url}")
    home = settings().home
    token = None if os.environ.get("KITT_AUTH_TOKEN") else localtoken.read(home)
    target = url
    if token is not None:
        page = weblogin.write(home, url, token)
        target = page.as_uri()
        click.echo(f"Log in with the token in {localtoken.path(home)} (or open {page})")
    graphical = (
        sys.platform in ("darwin", "win32") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    if not no_open and graphical:  # on a headless server a console browser would take over the terminal
        webbrowser.open(target)


async def _run(
    host: str,
    port: int,
    tls_cert: str | None,
    tls_key: str | None,
    *,
    serve_api: bool,
    on_ready=None,
    agents: str | None = None,
    public_url: str | None = None,
) -> None:
    if bool(tls_cert) != bool(tls_key):
        raise click.ClickException("give both --tls-cert and --tls-key, or neither")
    if serve_api and not _loopback(host) and not os.environ.get("KITT_AUTH_TOKEN"):
        raise click.ClickException(
            f"--host {host} would serve KITT beyond this machine with no authentication: "
            "set KITT_AUTH_TOKEN first (or keep --host 127.0.0.1)"
        )
    cfg = settings()
    running = instance.find_running(cfg.instance_file)
    if running is not None:
        raise click.ClickException(
            f"KITT is already running for {cfg.home} (pid {running.pid}, {url_without(running.nats_url)})"
        )
    runtime = Runtime(cfg, agents=agents, public_url=public_url)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runtime.request_stop)
    await runtime.start()
    api = None
    try:
        if serve_api:
            api = await _serve(runtime, host, port, tls_cert, tls_key)
        where = f", API and UI {api.url}" if api else ""
        click.echo(
            f"KITT is up: NATS {runtime.local_agent_url}{where}, home {cfg.home}. Ctrl-C to stop.", err=True
        )
        if api is not None and not os.environ.get("KITT_AUTH_TOKEN"):
            owner = localtoken.path(cfg.home)
            click.echo(f"API token (yours alone): {owner}; `kitt web` logs you in", err=True)
        if runtime.agent_url != runtime.local_agent_url:
            click.echo(f"Agents on other hosts: {runtime.agent_url} ({_ca_line(runtime.agent_ca)})", err=True)
        if api is not None and on_ready is not None:
            on_ready(api.url)
        await runtime.wait()
    finally:
        if api is not None:
            await api.stop()
        await runtime.stop()


async def _serve(runtime: Runtime, host: str, port: int, tls_cert: str | None, tls_key: str | None):
    from kitt.api.app import create_app  # litestar only when the API is served
    from kitt.api.context import ApiContext
    from kitt.api.server import ApiServer

    assert runtime.nc is not None and runtime.engine is not None
    scheme = "https" if tls_cert else "http"
    auth_token = os.environ.get("KITT_AUTH_TOKEN") or None
    kitt_ca = str(ca.authority(runtime.settings.home).cert)
    context = ApiContext(
        nc=runtime.nc,
        db=runtime.engine,
        home=runtime.settings.home,
        agent_url=runtime.agent_url,
        auth_token=auth_token,
        local_token=None if auth_token else localtoken.load_or_create(runtime.settings.home),
        position=runtime.position,
        public_url=runtime.public_url,
        agent_ca=runtime.agent_ca,
        own_url=f"{scheme}://{_dialable(host)}:{port}",
        web_ca=tls_cert is not None and _issued_by(tls_cert, kitt_ca),
        influxdb=runtime.settings.influxdb,
    )
    server = ApiServer(create_app(context), host, port, tls_cert=tls_cert, tls_key=tls_key)
    try:
        await server.start()
    except (OSError, SystemExit) as exc:
        raise click.ClickException(f"cannot serve the API on {host}:{port}: {exc}") from None
    runtime.record_api(server.url)
    return server
