"""The real llama-server processes a test started (native, or in a host-network container), read from
/proc, and the fact that one has served a request: its `/slots` shows a task."""

import os
from pathlib import Path

import httpx


def _cmdlines() -> list[tuple[int, list[bytes]]]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            found.append((int(pid), Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")))
        except OSError:
            continue
    return found


def engine_processes(model: Path | str) -> list[int]:
    """llama-server processes serving MODEL (a host path, or the path a container sees)."""
    marker = str(model).encode()
    return [
        pid
        for pid, cmdline in _cmdlines()
        if marker in cmdline and any(b"llama-server" in part for part in cmdline)
    ]


def _port(pid: int) -> int | None:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    return int(cmdline[cmdline.index(b"--port") + 1]) if b"--port" in cmdline else None


def has_served(model: Path | str) -> bool:
    """Some llama-server for MODEL has taken a request (a benchmark is under way)."""
    for pid in engine_processes(model):
        port = _port(pid)
        if port is None:
            continue
        try:
            slots = httpx.get(f"http://127.0.0.1:{port}/slots", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            continue
        if any("id_task" in slot for slot in slots):
            return True
    return False


def own_processes(marker: str) -> list[int]:
    """Processes whose command line holds MARKER and that this xdist worker started (their environment
    says so: an orphan keeps it), so that another worker's run of the same program is not counted."""
    worker = f"PYTEST_XDIST_WORKER={os.environ.get('PYTEST_XDIST_WORKER', '')}".encode()
    found = []
    for pid, cmdline in _cmdlines():
        if pid == os.getpid() or not any(marker.encode() in part for part in cmdline):
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        mine = worker in environ if os.environ.get("PYTEST_XDIST_WORKER") else True
        if mine:
            found.append(pid)
    return found
