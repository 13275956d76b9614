"""Child processes KITT starts (nats-server, native engines): free ports, and no orphans."""

import asyncio
import collections
import contextlib
import ctypes
import os
import random
import signal
import socket
from pathlib import Path

_RECENT: collections.deque[int] = collections.deque(maxlen=64)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing is bound to: the kernel's choice, or with `KITT_PORT_RANGE=LO-HI` one from that band
    (a firewall's opening; each test worker has its own), not one of the last 64 this process gave out."""
    band = port_band(os.environ.get("KITT_PORT_RANGE", ""))
    if band is None:
        with socket.socket() as sock:
            sock.bind((host, 0))
            return sock.getsockname()[1]
    start = random.randrange(len(band))
    order = [band[(start + offset) % len(band)] for offset in range(len(band))]
    # A port given out lately may not be bound yet by whoever asked for it: others first.
    for port in [p for p in order if p not in _RECENT] + [p for p in order if p in _RECENT]:
        if _bindable(host, port):
            _RECENT.append(port)
            return port
    raise RuntimeError(f"no free port in KITT_PORT_RANGE={band.start}-{band.stop - 1}")


def port_band(text: str) -> range | None:
    """`LO-HI` (inclusive) as a range; empty means no band. Anything else is a clear error."""
    if not text.strip():
        return None
    lo, sep, hi = text.strip().partition("-")
    if not (sep and lo.isdigit() and hi.isdigit() and 1024 <= int(lo) <= int(hi) <= 65535):
        raise ValueError(f"KITT_PORT_RANGE must be LO-HI with 1024 <= LO <= HI <= 65535, not {text!r}")
    return range(int(lo), int(hi) + 1)


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # Linux: the child gets SIGTERM if KITT is killed outright, and leads its own process group so
    # stopping it reaches everything it spawned.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    os.setpgrp()


async def stop_group(process: asyncio.subprocess.Process, grace_s: float) -> None:
    """SIGTERM a child's whole process group, SIGKILL it after `grace_s`; return once it has exited.

    A leader that died first may leave its own children behind (vLLM's engine core and workers, holding
    gigabytes): they are still in its group, and are ended the same way."""
    if process.returncode is not None:
        await _end_orphans(process.pid, grace_s)
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), grace_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
    await _end_orphans(process.pid, grace_s)


ORPHAN_KILL_WAIT_S = 5.0


def group_members(pgid: int) -> list[int]:
    """The group's members that are not zombies, read from /proc (where a member that has died but is
    not yet reaped, by init for an orphan, shows as Z)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, _ppid, group = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(group) == pgid and state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def _group_lives(pgid: int) -> bool:
    """Whether the group has a live member: `group_members` where there is a /proc; elsewhere, the
    kernel's word for any member."""
    if not Path("/proc/self/stat").exists():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    return bool(group_members(pgid))


async def _end_orphans(pgid: int, grace_s: float) -> None:
    """The group of a leader that has exited: SIGTERM what is left, SIGKILL it after `grace_s`, and return
    once none of it lives. (A group id is not handed out as a process id while the group has members, so
    this reaches only them.)"""
    loop = asyncio.get_running_loop()
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, ORPHAN_KILL_WAIT_S)):
        if not _group_lives(pgid):
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        deadline = loop.time() + wait_s
        while _group_lives(pgid) and loop.time() < deadline:
            await asyncio.sleep(0.05)
