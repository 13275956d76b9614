"""The suite's own rules, read from its source with `ast` so that a change breaking one fails here:
tests wait on facts through `tests/waiting.py` only, and no two xdist workers ever share a port, a
database or a compose project."""

import ast
from pathlib import Path

import pytest

from tests import workers

TESTS = Path(__file__).resolve().parent
WAIT_HELPER = TESTS / "waiting.py"


def _sleeps(tree: ast.AST) -> list[tuple[int, str]]:
    """Calls of time.sleep / asyncio.sleep (a literal 0 is a yield to the loop, not a wait) and imports of
    either `sleep` by name."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("time", "asyncio"):
            found += [
                (node.lineno, f"from {node.module} import sleep") for a in node.names if a.name == "sleep"
            ]
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        func = node.func
        if (
            func.attr != "sleep"
            or not isinstance(func.value, ast.Name)
            or func.value.id not in ("time", "asyncio")
        ):
            continue
        if node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value == 0:
            continue
        found.append((node.lineno, f"{func.value.id}.sleep"))
    return found


def test_tests_wait_on_facts_not_on_time():
    slept = [
        f"{path.relative_to(TESTS.parent)}:{line}: {call}"
        for path in sorted(TESTS.rglob("*.py"))
        if path != WAIT_HELPER
        for line, call in _sleeps(ast.parse(path.read_text()))
    ]
    assert slept == [], "wait with tests.waiting.eventually/until (or elapse, where time is the thing):\n" + (
        "\n".join(slept)
    )


def test_the_sleep_check_sees_every_form():
    source = "from time import sleep\ntime.sleep(1)\nasyncio.sleep(0.5)\nasyncio.sleep(0)\nother.sleep(2)\n"
    assert [call for _, call in _sleeps(ast.parse(source))] == [
        "from time import sleep",
        "time.sleep",
        "asyncio.sleep",
    ]


def _ephemeral_first() -> int:
    return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


def test_workers_ports_never_coincide_and_stay_below_the_ephemeral_range():
    bands = [workers.port_range(n) for n in range(workers.MAX_WORKERS)]
    ports = [port for band in bands for port in band]
    assert len(ports) == len(set(ports))  # disjoint
    assert min(ports) >= 1024 and max(ports) < _ephemeral_first()
    assert all(len(band) >= 1000 for band in bands)  # room for a worker's servers, engines and agents


def test_workers_names_never_coincide():
    run = "0123456789"
    names = [workers.database_name(n, run) for n in range(workers.MAX_WORKERS)]
    projects = [workers.project("e2e", n) for n in range(workers.MAX_WORKERS)]
    assert len(set(names)) == len(names) and len(set(projects)) == len(projects)
    assert workers.database_name(0, run) != workers.database_name(0, "9876543210")  # nor two runs'
    assert (workers.number("gw3"), workers.number("master")) == (3, 0)
    with pytest.raises(RuntimeError, match="at most 16 workers"):
        workers.number(f"gw{workers.MAX_WORKERS}")


def test_this_worker_hands_out_only_its_own_ports():
    from kitt.children import free_port

    band = workers.port_range(workers.number())
    assert all(free_port() in band for _ in range(50))


@pytest.mark.xdist_group("rules")
def test_a_group_stays_on_one_worker(request):
    """xdist_group is honoured (pytest 9.2 broke it for pytest-xdist 3.8 silently: the docker tests then
    ran on three workers at once and counted each other's containers)."""
    if getattr(request.config.option, "loadgroup", False):
        assert request.node.nodeid.endswith("@rules"), request.node.nodeid
    else:
        assert "@" not in request.node.nodeid  # one process: nothing to group
