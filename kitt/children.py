"""Child processes KITT starts (nats-server, native engines): free ports, and no orphans."""

import asyncio
import contextlib
import ctypes
import os
import signal
import socket


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # Linux: the child gets SIGTERM if KITT is killed outright, and leads its own process group so
    # stopping it reaches everything it spawned.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    os.setpgrp()


async def stop_group(process: asyncio.subprocess.Process, grace_s: float) -> None:
    """SIGTERM a child's whole process group, SIGKILL it after `grace_s`; return once it has exited."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), grace_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
