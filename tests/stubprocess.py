"""The stub server (`kitt.bench.stubserver`) as its own process, as a user runs it against KITT."""

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

from kitt.children import free_port


@contextlib.contextmanager
def running_stub(*, tick_ms: float = 2.0, load_ms: float = 0.0) -> Iterator[str]:
    """Yields the stub's URL; it is stopped on the way out."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "kitt.bench.stubserver",
        "--port",
        str(port),
        "--tick-ms",
        f"{tick_ms:g}",
    ]
    proc = subprocess.Popen([*command, "--load-ms", f"{load_ms:g}"])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the stub server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
