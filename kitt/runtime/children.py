"""Child processes KITT starts (nats-server, native engines): free ports, and no orphans."""

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
