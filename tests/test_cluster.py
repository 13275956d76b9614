"""Clustered distributed mode, for real: a three-node NATS cluster with every stream on all three nodes,
PostgreSQL, `kitt serve` and two `kitt project` processes. Quick tests run through it on a test agent
(simulated) while the EVENTS stream's leader node is killed and so is the `kitt project` holding KARR's
lease: every test completes, and KARR equals a clean rebuild from EVENTS (nothing lost, nothing twice)."""

import asyncio
import os
import signal
import subprocess
import time

import httpx
import pytest
from sqlalchemy import func, select

from kitt.children import free_port
from kitt.projections import admin, migrate
from kitt.projections.db import create_engine
from kitt.projections.karr import KarrProjection
from kitt.projections.lease import BUCKET
from kitt.projections.models import BenchmarkRow, MetricRow, RunRow
from kitt.runtime.embedded import connect_nats
from kitt.storage import fleet
from tests.natscluster import NatsCluster
from tests.test_cli import KITT, kitt
from tests.waiting import eventually

pytestmark = pytest.mark.slow
TOKEN = "cluster-admin-token-0123456789abcdef"
TESTS = 6


def _spawn(home, env, *args) -> subprocess.Popen:
    log = (home.parent / f"{home.name}.log").open("ab")
    home.mkdir(parents=True, exist_ok=True)
    full = {**os.environ, **env, "KITT_HOME": str(home)}
    return subprocess.Popen([*KITT, *args], env=full, stdout=log, stderr=log)


async def _karr(engine) -> dict[str, tuple[str, int, int]]:
    """Each run's status, benchmark count and metric count."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(RunRow.run_id, RunRow.status, RunRow.simulated))
        runs = {r.run_id: r.status if r.simulated else f"{r.status}, not simulated" for r in rows}
        benches = dict(
            (
                await conn.execute(select(BenchmarkRow.run_id, func.count()).group_by(BenchmarkRow.run_id))
            ).all()
        )
        metrics = dict(
            (await conn.execute(select(MetricRow.run_id, func.count()).group_by(MetricRow.run_id))).all()
        )
    return {run: (status, benches.get(run, 0), metrics.get(run, 0)) for run, status in runs.items()}


async def _lease_holder(nc, name: str) -> str | None:
    try:
        return (await (await nc.jetstream().key_value(BUCKET)).get(name)).value.decode()
    except Exception:
        return None


_T0 = [0.0]


def _phase(name: str) -> None:
    """Each phase's start, shown with a failure (which phase is slow on a busy machine)."""
    print(f"{time.monotonic() - _T0[0]:6.1f} s  {name}")


def _print_logs(tmp_path) -> None:
    """On a failure, the tail of every process's log (pytest shows it with the failure)."""
    for log in sorted(tmp_path.rglob("*.log")):
        print(f"==== {log.relative_to(tmp_path)}\n{log.read_text(errors='replace')[-4000:]}")


async def _request(
    client: httpx.AsyncClient, method: str, path: str, within: float = 60, **kw
) -> httpx.Response:
    """An API call that rides out an election: 503s and timeouts are retried for a while."""

    async def answered() -> httpx.Response | None:
        try:
            answer = await client.request(method, path, **kw)
        except httpx.HTTPError:
            return None
        return answer if answer.status_code < 500 else None

    return await eventually(answered, within, 0.5, what=f"{method} {path} to answer below 500")


async def test_a_cluster_survives_a_node_and_a_projector(tmp_path, postgresql_url):
    _T0[0] = time.monotonic()
    database = postgresql_url
    cluster = NatsCluster(tmp_path / "cluster")
    cluster.start()
    env = {**cluster.environment(), "KITT_DATABASE_URL": database, "KITT_STREAM_REPLICAS": "3",
           "KITT_AUTH_TOKEN": TOKEN}  # fmt: skip
    processes: list[subprocess.Popen] = []
    nc = None
    try:
        kitt(tmp_path / "admin", "streams", "apply", "--replicas", "3", env=env, timeout=120)
        _phase("streams applied")
        projects = [_spawn(tmp_path / f"project-{n}", env, "project") for n in (1, 2)]
        processes += projects
        nc = await connect_nats(f"nats://kitt:{cluster.creds.kitt_password}@{cluster.nodes[0].url[7:]}")
        holder = await eventually(
            lambda: _lease_holder(nc, "karr"), 60, 0.5, what="a kitt project on KARR's lease"
        )
        _phase(f"KARR's lease taken by {holder}")
        port = free_port()
        serve_home = tmp_path / "serve"
        processes.append(_spawn(serve_home, env, "serve", "--host", "127.0.0.1", "--port", str(port)))
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=auth, timeout=10) as api:
            assert (await _request(api, "GET", "/api/v1/runs", within=90)).status_code == 200
            _phase("serve answers")
            await asyncio.to_thread(
                kitt, serve_home, "agents", "create-test", "sim-c", "--speed", "0.3", env=env
            )
            ids = []
            for n in range(TESTS):
                body = {"agent": "sim-c", "model": f"/models/m-{n}", "engine": "vllm"}
                created = await _request(api, "POST", "/api/v1/tests", json=body)
                assert created.status_code == 201, created.text
                ids.append(created.json()["id"])
            _phase("tests created")

            # Mid-run: the EVENTS leader node dies, and so does the kitt project writing KARR.
            async def one_finished() -> bool:
                listed = (await _request(api, "GET", "/api/v1/tests")).json()
                return any(t["status"] == "succeeded" for t in listed)

            await eventually(one_finished, 60, 0.5, what="a test to succeed")
            leader = (await nc.jetstream().stream_info("EVENTS")).cluster.leader
            victim = next(p for p in projects if holder.endswith(f":{p.pid}"))
            _phase(f"killing {victim.pid} and the EVENTS leader {leader}")
            victim.send_signal(signal.SIGKILL)
            cluster.nodes[int(leader.rsplit("-", 1)[1]) - 1].kill()
            await nc.close()
            nc = None

            async def all_finished() -> dict[str, dict] | None:
                tests = {t["test_id"]: t for t in (await _request(api, "GET", "/api/v1/tests")).json()}
                ended = ("succeeded", "failed", "cancelled")
                return tests if all(tests.get(i, {}).get("status") in ended for i in ids) else None

            tests = await eventually(all_finished, 240, 1, what="every test to finish")
        _phase("tests finished")
        assert [tests[i]["status"] for i in ids] == ["succeeded"] * TESTS
        assert all(tests[i]["simulated"] for i in ids)  # each test's start landed, in its order
        for process in processes:
            assert process.poll() is None or process is victim, f"a process exited: {process.args}"
        # KARR (written by whichever projector held the lease) equals a clean rebuild from EVENTS.
        alive = next(node for node in cluster.nodes if node.process and node.process.poll() is None)
        nc = await connect_nats(f"nats://kitt:{cluster.creds.kitt_password}@{alive.url[7:]}")
        live = create_engine(database)
        fresh = create_engine(f"sqlite:///{tmp_path / 'rebuild.db'}")
        await migrate.upgrade(fresh)
        try:
            run_ids = {tests[i]["run_id"] for i in ids}

            async def caught_up() -> bool:
                return run_ids <= set(await _karr(live))

            await eventually(caught_up, 60, 0.5, what="KARR to hold every run")
            _phase("KARR has every run")
            await admin.catch_up(nc, fresh, KarrProjection())
            await admin.catch_up(nc, live, KarrProjection())  # wait for the live one's last batch too
            rebuilt, projected = await _karr(fresh), await _karr(live)
            assert projected == rebuilt and len(projected) == TESTS
            whole = {r: v for r, v in projected.items() if v[0] == "succeeded" and v[1] > 0 and v[2] > 0}
            refused = await fleet.refused_reports(live)
            assert len(whole) == TESTS, (
                f"runs not whole: {projected.keys() - whole.keys()} of {projected}; {refused=}"
            )
        finally:
            await live.dispose()
            await fresh.dispose()
    except BaseException:
        _print_logs(tmp_path)
        raise
    finally:
        if nc is not None:
            await nc.close()
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        cluster.stop()
