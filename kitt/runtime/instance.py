"""The record of a running `kitt up` in KITT_HOME, so other CLI commands use it instead of starting another.

A record left by a crashed instance (its pid gone, or its NATS not answering) is detected and replaced.
"""

import contextlib
import fcntl
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import msgspec


class InstanceRecord(msgspec.Struct, frozen=True, kw_only=True):
    pid: int
    nats_url: str
    database_url: str
    started_at: datetime
    api_url: str | None = None
    agent_url: str | None = None  # what agents are told to dial (no credentials)
    agent_ca: str | None = None  # the certificate they check the server's against


def write(path: Path, record: InstanceRecord) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(msgspec.json.encode(record))
    tmp.chmod(0o600)
    tmp.replace(path)


def remove(path: Path, pid: int) -> None:
    record = read(path)
    if record is not None and record.pid == pid:
        path.unlink(missing_ok=True)


def read(path: Path) -> InstanceRecord | None:
    try:
        return msgspec.json.decode(path.read_bytes(), type=InstanceRecord)
    except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reachable(url: str) -> bool:
    """Whether any server of the URL (a cluster's comma-separated list, or one) answers."""
    for server in (u.strip() for u in url.split(",") if u.strip()):
        parsed = urlparse(server)
        try:
            with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 4222), timeout=1.0):
                return True
        except (OSError, ValueError):
            continue
    return False


def find_running(path: Path) -> InstanceRecord | None:
    """The live instance for this home, or None (removing a stale record)."""
    record = read(path)
    if record is None:
        return None
    if record.pid != os.getpid() and _pid_alive(record.pid) and _reachable(record.nats_url):
        return record
    path.unlink(missing_ok=True)
    return None


class HomeLock:
    """One embedded runtime per KITT_HOME: a second would fight over the JetStream store."""

    def __init__(self, home: Path) -> None:
        self._path = home / "runtime.lock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
            self._fd = None


def now() -> datetime:
    return datetime.now(UTC)
