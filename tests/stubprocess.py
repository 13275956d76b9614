"""The stub server (`kitt.bench.stubserver`) as its own process, as a user runs it against KITT."""

import contextlib
import subprocess
import sys
from collections.abc import Iterator

from kitt.children import free_port
from tests.waiting import port_open, until


@contextlib.contextmanager
def running_stub(
    *,
    tick_ms: float = 2.0,
    load_ms: float = 0.0,
    metrics: bool = True,
    fail_every: int = 0,
    fail_with: str = "503",
) -> Iterator[str]:
    """Yields the stub's URL; it is stopped on the way out. `fail_every`: every N-th completion fails."""
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
    command += ["--load-ms", f"{load_ms:g}"] + ([] if metrics else ["--no-metrics"])
    command += ["--fail-every", str(fail_every), "--fail-with", fail_with]
    proc = subprocess.Popen(command)
    try:

        def listening() -> bool:
            assert proc.poll() is None, f"the stub server exited ({proc.returncode})"
            return port_open(port)

        until(listening, 20, what=f"the stub server on port {port}")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
