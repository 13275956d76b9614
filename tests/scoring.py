"""The scoring test server (`kitt.bench.quality.scoringserver`, written to vLLM's documented scoring
contract; it is not vLLM) as the quality tests start it."""

import subprocess
import sys
from pathlib import Path

from kitt.children import free_port
from tests.waiting import port_open, until

SOURCE = Path(__file__).resolve().parents[1] / "datasets"


def serve(*flags: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "kitt.bench.quality.scoringserver", "--port", str(port), *flags]
    )

    def listening() -> bool:
        assert process.poll() is None, f"the scoring test server exited ({process.returncode})"
        return port_open(port)

    try:
        until(listening, 20, what=f"the scoring test server on port {port}")
    except AssertionError:
        process.kill()
        raise
    return process, port
