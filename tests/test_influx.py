"""The influxdb projection against a real InfluxDB 1.x (Debian's influxd, auth on), a real JetStream and
both databases: figures land as they land in KARR, a replay doubles nothing, an outage loses nothing."""

import asyncio

import msgspec
import pytest
from click.testing import CliRunner

from kitt.cli.main import cli
from kitt.events.bus import EventBus
from kitt.events.results import Metric
from kitt.projections import admin
from kitt.projections.influx import InfluxConfigError, InfluxProjection, InfluxTarget
from kitt.projections.lineprotocol import line
from kitt.projections.runner import Projector, load_checkpoint
from tests.factories import document, run_events
from tests.influxserver import PASSWORD, USER, InfluxServer
from tests.waiting import eventually


@pytest.fixture
def influx(tmp_path):
    server = InfluxServer(tmp_path / "influx")
    server.root.mkdir()
    server.start()
    yield server
    server.stop()


def _target(server: InfluxServer, **changes) -> InfluxTarget:
    return InfluxTarget(**{"url": server.url, "user": USER, "password": PASSWORD, **changes})


async def _projecting(nc, engine, projection):
    stop = asyncio.Event()
    projector = Projector(projection, nc, engine)
    return stop, projector, asyncio.create_task(projector.run(stop))


async def _points(server: InfluxServer, where: str = "") -> list[dict[str, object]]:
    return await asyncio.to_thread(server.query, f"SELECT * FROM kitt_metric {where}")


def _odd_document(run_id: str):
    """A model name and a label with every character line protocol escapes."""
    doc = document(run_id)
    info = msgspec.structs.replace(doc.info, model='my model,v=2 "q"', simulated=True)
    odd = Metric(name="ttft", value=1.5, unit="ms", labels={"set,a": "x=1 y"})
    bench = msgspec.structs.replace(doc.benchmarks[0], metrics=(odd,))
    return msgspec.structs.replace(doc, info=info, benchmarks=(bench,))


async def test_figures_land_tagged_and_a_replay_doubles_nothing(nc, engine, influx):
    bus = EventBus(nc)
    appended = await bus.append(run_events(document("run-i")), msg_id="run-i")
    await bus.append(run_events(_odd_document("run-odd")), msg_id="run-odd")
    stop, projector, task = await _projecting(nc, engine, InfluxProjection(_target(influx)))
    await eventually(lambda: _count(influx, 9))
    rows = await _points(influx, "WHERE run_id = 'run-i'")
    ttft = {r["percentile"]: r["value"] for r in rows if r["metric"] == "ttft"}
    assert ttft == {"p50": 41.5, "p90": 41.5, "p99": 41.5}
    gpu = next(r for r in rows if r["metric"] == "gpu_memory_peak")
    assert (gpu["label_gpu"], gpu["unit"], gpu["engine"], gpu["model"]) == (
        "0",
        "MiB",
        "llama_cpp",
        "/models/llama-7b.gguf",
    )
    assert {r["simulated"] for r in rows} == {"false"} and {r["agent"] for r in rows} == {"gpu-01"}
    assert len([r for r in rows if r["benchmark"] == "mmlu"]) == 3
    odd = await _points(influx, "WHERE run_id = 'run-odd'")
    assert [(r["model"], r["label_set,a"], r["simulated"]) for r in odd] == [
        ('my model,v=2 "q"', "x=1 y", "true")
    ]
    runs = await asyncio.to_thread(influx.query, "SELECT * FROM kitt_run WHERE run_id = 'run-i'")
    assert [(r["status"], r["duration_s"]) for r in runs] == [("succeeded", 300.0)]
    stop.set()
    await asyncio.wait_for(task, 10)
    assert projector.checkpoint is not None and projector.checkpoint >= appended.seq
    # A rebuild replays every event from the start: the same points, overwritten in place.
    await admin.reset(engine, InfluxProjection(_target(influx)))
    stop, _, task = await _projecting(nc, engine, InfluxProjection(_target(influx)))
    await eventually(lambda: _at_checkpoint(engine, appended.seq))
    assert len(await _points(influx)) == 9
    stop.set()
    await asyncio.wait_for(task, 10)


async def _count(server: InfluxServer, expected: int) -> bool:
    try:
        return len(await _points(server)) == expected
    except Exception:  # the database is made on the first write
        return False


async def _at_checkpoint(engine, seq: int) -> bool:
    return await load_checkpoint(engine, "influxdb") >= seq


async def _more(projector: Projector, than: int, by: int) -> bool:
    return projector.failures >= than + by


async def test_an_outage_holds_the_checkpoint_and_loses_nothing(nc, engine, influx):
    bus = EventBus(nc)
    stop, projector, task = await _projecting(nc, engine, InfluxProjection(_target(influx)))
    first = await bus.append(run_events(document("run-1")), msg_id="run-1")
    await eventually(lambda: _at_checkpoint(engine, first.seq))
    influx.stop()
    second = await bus.append(run_events(document("run-2", seed=1)), msg_id="run-2")
    failed = projector.failures
    await eventually(
        lambda: _more(projector, failed, 2), 30, what="the projector to fail twice on the outage"
    )
    assert await load_checkpoint(engine, "influxdb") < second.seq
    influx.start(first=False)
    await eventually(lambda: _at_checkpoint(engine, second.seq), timeout=60)
    assert len(await _points(influx, "WHERE run_id = 'run-2'")) == 8
    assert len(await _points(influx)) == 16  # two runs with the same timestamps and tags: both kept
    stop.set()
    await asyncio.wait_for(task, 10)
    assert projector.checkpoint == second.seq


async def test_wrong_credentials_hold_the_checkpoint(nc, engine, influx):
    bus = EventBus(nc)
    projection = InfluxProjection(_target(influx, password="wrong-password"))
    stop, projector, task = await _projecting(nc, engine, projection)
    appended = await bus.append(run_events(document("run-x")), msg_id="run-x")
    await eventually(lambda: _more(projector, 0, 1), 30, what="the projector to be refused once")
    assert await load_checkpoint(engine, "influxdb") < appended.seq
    stop.set()
    await asyncio.wait_for(task, 10)
    with pytest.raises(Exception, match="refused") as refused:
        await projection.write([line("m", {}, {"v": 1.0}, 1)])
    assert "wrong-password" not in str(refused.value)


def test_line_protocol_escapes_what_the_spec_says():
    text = line("kitt metric", {"b": "x y", "a": "1,2=3", "empty": ""}, {"v": 1.5, "n": 2, "s": 'a "b"'}, 7)
    assert text == 'kitt\\ metric,a=1\\,2\\=3,b=x\\ y v=1.5,n=2i,s="a \\"b\\"" 7'
    with pytest.raises(ValueError, match="at least one field"):
        line("m", {}, {}, 1)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://admin:secret@influx:8086", "must not carry credentials"),
        ("influx:8086", "http:// or https://"),
    ],
)
def test_a_bad_influxdb_url_is_one_clear_line(url, why, tmp_path, monkeypatch):
    with pytest.raises(InfluxConfigError, match=why):
        InfluxTarget(url=url)
    monkeypatch.setenv("KITT_HOME", str(tmp_path))
    monkeypatch.setenv("KITT_INFLUXDB_URL", url)
    result = CliRunner().invoke(cli, ["projections", "status"])
    assert result.exit_code == 1 and why in result.output and "secret" not in result.output
    assert "Traceback" not in result.output


async def test_every_results_dashboard_query_reads_the_projected_figures(nc, engine, influx):
    """The Grafana results dashboard's InfluxQL, with Grafana's macros filled in, against real points."""
    from tests.factories import sweep_document
    from tests.test_monitoring import _queries

    bus = EventBus(nc)
    appended = await bus.append(run_events(sweep_document("run-s")), msg_id="run-s")
    stop, _, task = await _projecting(nc, engine, InfluxProjection(_target(influx)))
    await eventually(lambda: _at_checkpoint(engine, appended.seq))
    stop.set()
    await asyncio.wait_for(task, 10)
    queries = _queries("influxdb")
    assert len(queries) >= 6
    for query in queries:
        filled = (
            query.replace("$timeFilter", "time > now() - 36500d")
            .replace("$__interval", "1d")
            .replace("$model", ".*")
            .replace("$engine", ".*")
            .replace("$simulated", ".*")
        )
        rows = await asyncio.to_thread(influx.query, filled)
        assert rows, f"no data for {query!r}"
