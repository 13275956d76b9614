"""The influxdb projection's throughput against a real InfluxDB 1.x, beside KARR's on the same events.

Appends N run documents (each a concurrency sweep: 56 figures) to a fresh JetStream, then times how long
the influxdb projection (into Debian's influxd, auth on) and the KARR projection (into SQLite) each take
to catch up from nothing; prints events/s, figures/s and the ratio, median of --repeat runs.

    python bench/influx.py --runs 500 --repeat 3
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kitt.events import streams
from kitt.events.bus import EventBus
from kitt.projections import admin, migrate
from kitt.projections.db import create_engine
from kitt.projections.influx import InfluxProjection, InfluxTarget
from kitt.projections.karr import KarrProjection
from kitt.runtime.nats_server import NatsServer
from tests.factories import run_events, sweep_document
from tests.influxserver import PASSWORD, USER, InfluxServer


async def _timed(nc, root: Path, projection, name: str) -> float:
    engine = create_engine(f"sqlite:///{root / f'{name}.db'}")
    await migrate.upgrade(engine)
    started = time.perf_counter()
    await admin.catch_up(nc, engine, projection)
    elapsed = time.perf_counter() - started
    await engine.dispose()
    return elapsed


async def main(runs: int, repeat: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="kitt-bench-influx-"))
    server = NatsServer(root / "nats")
    server.start()
    influx = InfluxServer(root / "influx")
    influx.root.mkdir()
    influx.start()
    try:
        nc = await nats.connect(server.url)
        await streams.apply(nc.jetstream())
        bus = EventBus(nc)
        for n in range(runs):
            await bus.append(run_events(sweep_document(f"run-{n}", scale=1 + n % 7)), msg_id=f"run-{n}")
        events, figures = runs * 4, runs * 56
        timings: dict[str, list[float]] = {"influxdb": [], "karr": []}
        for attempt in range(repeat):
            target = InfluxTarget(url=influx.url, user=USER, password=PASSWORD, database=f"bench{attempt}")
            timings["influxdb"].append(await _timed(nc, root, InfluxProjection(target), f"i{attempt}"))
            timings["karr"].append(await _timed(nc, root, KarrProjection(), f"k{attempt}"))
        counted = influx.query("SELECT count(value) FROM kitt_metric", database=f"bench{repeat - 1}")
        print(f"{runs} runs, {events} events, {figures} figures; points in InfluxDB: {counted[0]['count']}")
        for name, seconds in timings.items():
            median = statistics.median(seconds)
            rates = f"{events / median:,.0f} events/s  {figures / median:,.0f} figures/s"
            print(f"{name:>8}: median {median:.2f} s  {rates}")
        ratio = statistics.median(timings["influxdb"]) / statistics.median(timings["karr"])
        print(f"influxdb / karr time: {ratio:.2f}")
        await nc.close()
    finally:
        influx.stop()
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (tests/test_bench.py)")
    args = parser.parse_args()
    if args.smoke:
        args.runs, args.repeat = 5, 1
    asyncio.run(main(args.runs, args.repeat))
