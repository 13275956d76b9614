"""The campaign manager at fleet scale: N simulated agents, one campaign of M items shared out among them.

Everything is the real path (auth callout on): the campaign is planned and launched as `kitt campaign run`
does it, the manager dispatches each agent's next item as the last one finishes, the dispatcher, ingestor,
command service, projectors and the N test agents all run in one embedded runtime on this machine. The
simulated executor's pauses are scaled down (`--speed`), so what is measured is KITT's plumbing. Printed,
from the facts in EVENTS:
- the manager's overhead per item: an item's test finished → that agent's next item's test requested
  (the manager records the item finished, the next one dispatched, then requests its test), p50/p99/max;
- events appended per item (all of them: the campaign's, the tests', the runs'), and by aggregate;
- the campaign's wall time and items per second.

    python bench/campaigns.py [--agents 20] [--items 1000] [--speed 0.002]
"""

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kitt import logging as kitt_logging
from kitt.agent import testagents
from kitt.agent.simulated import SimulatedHost
from kitt.auth import tokens
from kitt.campaigns import file as campaign_file
from kitt.commands.client import send
from kitt.commands.messages import ProvisionAgent
from kitt.config import Settings
from kitt.events import types as ev
from kitt.events.bus import EventBus
from kitt.orchestration.launching import launch, plan_campaign
from kitt.projections.db import normalize_url
from kitt.runtime.embedded import Runtime
from kitt.storage import campaigns as stored
from kitt.storage import fleet

SUITE = """
name: bench
tests:
  - {kind: performance, name: latency, concurrency: [1], max_requests: 4, input_tokens: 16}
"""
ENDED = ("succeeded", "completed_with_failures", "failed", "cancelled")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _agents(rt: Runtime, count: int, speed: float) -> list[str]:
    names = [f"bench-{i:02d}" for i in range(count)]
    for name in names:
        host = SimulatedHost(name=name, speed=speed)
        token = tokens.new()
        testagents.save(rt.settings.home, testagents.TestAgentFile(host=host, token=token))
        await send(rt.nc, ProvisionAgent(name=name, token_hash=tokens.digest(token)))
    for _ in range(600):
        found = {a.name: a for a in await fleet.agents(rt.engine)}
        if all(n in found and found[n].status == "registered" for n in names):
            return names
        await asyncio.sleep(0.1)
    raise SystemExit("the test agents did not register")


async def _facts(rt: Runtime, start_seq: int, campaign_id: str):
    """From EVENTS: each test's agent, when it was requested and finished, and every event's aggregate."""
    requested: dict[str, tuple[str, float]] = {}
    finished: dict[str, float] = {}
    aggregates: Counter[str] = Counter()
    async for stored_event in EventBus(rt.nc).read("ev.>", start_seq):
        envelope = stored_event.envelope
        aggregates[envelope.aggregate] += 1
        event = envelope.event
        at = envelope.occurred_at.timestamp()
        if isinstance(event, ev.TestRequested) and event.campaign_id == campaign_id and event.agent:
            requested[envelope.aggregate_id] = (event.agent, at)
        elif isinstance(event, ev.TestFinished):
            finished[envelope.aggregate_id] = at
    return requested, finished, aggregates


def _overheads(requested: dict[str, tuple[str, float]], finished: dict[str, float]) -> list[float]:
    lanes: dict[str, list[tuple[float, str]]] = {}
    for test_id, (agent, at) in requested.items():
        lanes.setdefault(agent, []).append((at, test_id))
    gaps: list[float] = []
    for tests in lanes.values():
        tests.sort()
        for (_, previous), (next_at, _) in itertools.pairwise(tests):
            gaps.append((next_at - finished[previous]) * 1000)
    return gaps


async def main(agents: int, items: int, speed: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        (home / "suites").mkdir()
        (home / "suites" / "bench.yaml").write_text(SUITE)
        url = normalize_url(f"sqlite+aiosqlite:///{home / 'karr.db'}")
        rt = Runtime(Settings(home=home, nats_url=None, database_url=url))
        await rt.start()
        try:
            names = await _agents(rt, agents, speed)
            models = [f"/models/m-{i:04d}" for i in range(items)]
            text = f"name: bench\nagents: {names}\nmodels: {models}\nengines: [vllm]\nsuites: [bench]\n"
            parsed = campaign_file.parse(text)
            plan = await plan_campaign(rt.nc, home, parsed.name, parsed.spec())
            start_seq = await EventBus(rt.nc).last_seq() + 1
            began = time.perf_counter()
            campaign_id, _ = await launch(rt.nc, plan)
            while True:
                found = await stored.latest_by_id(rt.engine, campaign_id)
                if found is not None and found.status in ENDED:
                    break
                await asyncio.sleep(0.5)
            wall = time.perf_counter() - began
            requested, finished, aggregates = await _facts(rt, start_seq, campaign_id)
        finally:
            await rt.stop()
    gaps = _overheads(requested, finished)
    total = sum(aggregates.values())
    print(f"campaign: {items} items on {agents} simulated agents, status {found.status}, {wall:.1f} s wall")
    once = len(requested) == items
    print(f"  {items / wall:.1f} items/s; {len(requested)} tests requested (one per item: {once})")
    print(
        f"manager overhead, test finished -> the agent's next test requested ({len(gaps)} gaps): "
        f"p50 {statistics.median(gaps):.1f} ms, p99 {_pct(gaps, 0.99):.1f} ms, max {max(gaps):.1f} ms"
    )
    by = ", ".join(f"{name} {count / items:.1f}" for name, count in aggregates.most_common())
    print(f"events per item: {total / items:.1f} ({by})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--speed", type=float, default=0.002)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (tests/test_bench.py)")
    args = parser.parse_args()
    if args.smoke:
        args.agents, args.items = 2, 6
    kitt_logging.configure("warning")
    asyncio.run(main(args.agents, args.items, args.speed))
