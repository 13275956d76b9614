"""What each pytest-xdist worker owns, so that two workers can never collide: a band of ports, a
PostgreSQL database, docker compose projects and container names. A name is a pure function of the
worker's number and the run's id, so `tests/test_architecture.py` can prove that no two coincide.

Ports come from below Linux's ephemeral range (32768-60999): a port handed to one worker can then be
taken neither by another worker nor by any outgoing connection's source port while its server starts."""

import os
import re

PORTS_FIRST = 10_000
PORTS_LAST = 32_767
MAX_WORKERS = 16
BAND = (PORTS_LAST - PORTS_FIRST + 1) // MAX_WORKERS


def number(worker_id: str | None = None) -> int:
    """gw0 → 0, gw7 → 7; the controller or a run without xdist ("master") is 0."""
    name = worker_id if worker_id is not None else os.environ.get("PYTEST_XDIST_WORKER", "master")
    found = re.fullmatch(r"gw(\d+)", name)
    index = int(found.group(1)) if found else 0
    if index >= MAX_WORKERS:
        raise RuntimeError(f"at most {MAX_WORKERS} workers: each owns 1/{MAX_WORKERS} of the test ports")
    return index


def port_range(index: int) -> range:
    """The ports worker `index` hands out (`KITT_PORT_RANGE`, inherited by every process it starts)."""
    first = PORTS_FIRST + index * BAND
    return range(first, first + BAND)


def database_name(index: int, run_id: str) -> str:
    """The worker's own PostgreSQL database, created and dropped by its session."""
    return f"kitt_test_{run_id}_w{index}"


def project(name: str, index: int) -> str:
    """A docker compose project (or stack, container, network) name of this worker's."""
    return f"{name}-w{index}"
