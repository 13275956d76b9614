"""The scoring test server (`kitt.bench.quality.scoringserver`, written to vLLM's documented scoring
contract; it is not vLLM) as the quality tests start it."""

import socket
import subprocess
import sys
import time
from pathlib import Path

from kitt.children import free_port

SOURCE = Path(__file__).resolve().parents[1] / "datasets"


def serve(*flags: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "kitt.bench.quality.scoringserver", "--port", str(port), *flags]
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process, port
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("the scoring test server did not start")
