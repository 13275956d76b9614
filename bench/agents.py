"""Agents at fleet scale: N simulated agents heartbeating, M quick tests dispatched through them.

Everything is the real path (auth callout on): each test agent holds its own token and NATS connection,
pulls from its DISPATCH consumer, reports on AGENT_IN, and the dispatcher, ingestor, command service and
projectors run in the embedded runtime. The simulated executor's pauses are scaled down (`--speed`), so
what is measured is KITT's plumbing, not fake engine time. Printed:
- dispatch-to-start latency (test requested → its `test_started` event), p50/p99, from the tests read model;
- events appended per second to EVENTS over the run, and reports per second through the ingestor;
- log-line latency, the agent's timestamp on the line → its arrival at a LOGS consumer, p50/p99.

    python bench/agents.py [--agents 50] [--tests 1000] [--speed 0.002]
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kitt import logging as kitt_logging
from kitt.agent import testagents
from kitt.agent.simulated import SimulatedHost
from kitt.auth import tokens
from kitt.commands.client import send
from kitt.commands.messages import ProvisionAgent, RequestTest
from kitt.config import Settings
from kitt.events import logs, streams
from kitt.events.types import TestSpec
from kitt.projections.db import normalize_url
from kitt.runtime.embedded import Runtime
from kitt.storage import fleet

SUITE = """
name: bench
tests:
  - {kind: performance, name: latency, concurrency: [1], max_requests: 4, input_tokens: 16}
sampling: {max_tokens: 8}
"""


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _log_latencies(rt: Runtime, out: list[float], stop: asyncio.Event) -> None:
    sub = await rt.nc.jetstream().subscribe("log.>", ordered_consumer=True)
    while not stop.is_set():
        try:
            msg = await sub.next_msg(timeout=0.5)
        except TimeoutError:
            continue
        line = logs.decode(msg.data)
        out.append((datetime.now(UTC) - line.at).total_seconds() * 1000)
    await sub.unsubscribe()


async def main(agents: int, count: int, speed: float) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch) / "home"
        (home / "suites").mkdir(parents=True)
        (home / "suites" / "bench.yaml").write_text(SUITE)
        settings = Settings(home=home, nats_url=None, database_url=normalize_url(f"sqlite:///{scratch}/k.db"))
        rt = Runtime(settings)
        await rt.start()
        try:
            await _run(rt, home, agents, count, speed)
        finally:
            await rt.stop()


async def _run(rt: Runtime, home: Path, agents: int, count: int, speed: float) -> None:
    names = [f"sim-{i:03d}" for i in range(agents)]
    for name in names:
        token = tokens.new()
        testagents.save(
            home, testagents.TestAgentFile(host=SimulatedHost(name=name, speed=speed), token=token)
        )
        await send(rt.nc, ProvisionAgent(name=name, token_hash=tokens.digest(token)))
    while sum(1 for a in await fleet.agents(rt.engine) if a.status == "registered") < agents:
        await asyncio.sleep(0.2)
    print(f"{agents} simulated agents registered and heartbeating")

    js = rt.nc.jetstream()
    events_before = (await js.stream_info(streams.EVENTS)).state.last_seq
    reports_before = (await js.stream_info(streams.AGENT_IN)).state.last_seq
    log_ms: list[float] = []
    stop = asyncio.Event()
    follower = asyncio.create_task(_log_latencies(rt, log_ms, stop))
    started = time.perf_counter()
    spec = TestSpec(model="/models/m", engine="vllm", suite="bench", runtime="docker")
    ids = []
    for index in range(count):
        reply = await send(rt.nc, RequestTest(spec=spec, agent=names[index % agents]))
        ids.append(reply.ids[0])
    while True:
        tests = await fleet.tests(rt.engine, limit=count + 10)
        done = [t for t in tests if t.status in ("succeeded", "failed", "cancelled")]
        if len(done) >= count:
            break
        await asyncio.sleep(0.5)
    wall = time.perf_counter() - started
    await asyncio.sleep(1)
    stop.set()
    await follower
    events = (await js.stream_info(streams.EVENTS)).state.last_seq - events_before
    reports = (await js.stream_info(streams.AGENT_IN)).state.last_seq - reports_before
    starts = [(t.started_at - t.requested_at).total_seconds() * 1000 for t in done if t.started_at]
    failed = [t for t in done if t.status != "succeeded"]
    if failed:
        print("first failure:", failed[0].error)
    print(
        f"{count} tests on {agents} agents in {wall:.1f} s ({count / wall:.1f} tests/s), "
        f"{len(failed)} not succeeded"
    )
    first: dict[str, fleet.Test] = {}
    for t in sorted(done, key=lambda t: t.requested_at):
        first.setdefault(t.agent or "", t)
    idle = [(t.started_at - t.requested_at).total_seconds() * 1000 for t in first.values() if t.started_at]
    print(
        f"request-to-start, idle agent (each agent's first test): p50 {statistics.median(idle):.0f} ms, "
        f"p99 {_pct(idle, 0.99):.0f} ms"
    )
    print(
        f"request-to-start, all (includes waiting behind the agent's earlier tests): "
        f"p50 {statistics.median(starts):.0f} ms, p99 {_pct(starts, 0.99):.0f} ms"
    )
    print(
        f"EVENTS: {events} events, {events / wall:.0f}/s; ingestor: {reports} reports, {reports / wall:.0f}/s"
    )
    print(
        f"log lines: {len(log_ms)}, publish-to-LOGS-consumer p50 {statistics.median(log_ms):.1f} ms, "
        f"p99 {_pct(log_ms, 0.99):.1f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--tests", type=int, default=1000)
    parser.add_argument("--speed", type=float, default=0.002)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (tests/test_bench.py)")
    args = parser.parse_args()
    if args.smoke:
        args.agents, args.tests = 2, 6
    kitt_logging.configure("warning")
    asyncio.run(main(args.agents, args.tests, args.speed))
