"""The scoring test server (`kitt.bench.quality.scoringserver`, written to vLLM's documented scoring
contract; it is not vLLM) as the quality tests start it."""

import subprocess
import sys
from pathlib import Path

from kitt.children import free_port
from tests.waiting import port_open, until

SOURCE = Path(__file__).resolve().parents[1] / "datasets"


def serve(*flags: str, module: str = "kitt.bench.quality.scoringserver") -> tuple[subprocess.Popen, int]:
    """The server `module` runs on a free port; it and the port, once it listens."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", module, "--port", str(port), *flags])

    def listening() -> bool:
        assert process.poll() is None, f"{module} exited ({process.returncode})"
        return port_open(port)

    try:
        until(listening, 60, what=f"{module} on port {port}")
    except AssertionError:
        process.kill()
        raise
    return process, port
