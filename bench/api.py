"""API and UI latency under load, and SSE fan-out, printed (not asserted).

1. Seeds N runs through the event path (run events appended to EVENTS, folded by the KARR projector).
2. Serves them with `kitt up` (a separate process, as users run it) and loads the results list (API and UI
   page) and a run (API and UI page) with 64 connections from wrk: p50/p99 latency and requests/s.
3. 200 browsers (another process) follow one test's live log; log lines are published at a steady rate
   with their send time; each browser records publish-to-receipt latency.

    python bench/api.py --runs 100000 [--postgres]
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import msgspec
import nats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.events import publish_nats_py
from kitt.auth import credentials, localtoken
from kitt.children import free_port
from kitt.config import Settings
from kitt.events import codec, logs, subjects
from kitt.projections.db import normalize_url
from kitt.runtime.embedded import Runtime
from kitt.storage.checkpoints import wait_for_checkpoint
from tests.factories import T0, document, run_events

PG_ADMIN = os.environ.get("KITT_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
KITT = [sys.executable, "-m", "kitt.cli.main"]
ENGINES = ("vllm", "llama_cpp", "tgi", "ollama")


def seed_messages(runs: int) -> list[tuple[str, bytes, dict[str, str]]]:
    """Four events per run (started, two benchmarks, finished), runs a minute apart, engines varied."""
    out = []
    for index in range(runs):
        doc = document(f"seed-{index}", seed=index % 50)
        info = msgspec.structs.replace(
            doc.info, started_at=T0 + timedelta(minutes=index), engine=ENGINES[index % len(ENGINES)]
        )
        for env in run_events(msgspec.structs.replace(doc, info=info)):
            data, headers = codec.encode(env)
            headers["Nats-Msg-Id"] = env.event_id
            out.append((subjects.event(env.aggregate, env.aggregate_id, env.type), data, headers))
    return out


async def seed(settings: Settings, runs: int) -> None:
    rt = Runtime(settings)
    await rt.start()
    try:
        assert rt.nc is not None and rt.engine is not None
        messages = seed_messages(runs)
        started = time.perf_counter()
        await publish_nats_py(rt.nc.jetstream(), messages)
        last = (await rt.nc.jetstream().stream_info("EVENTS")).state.last_seq
        await wait_for_checkpoint(rt.engine, "karr", last, timeout=3600)
        wall = time.perf_counter() - started
        print(f"seeded {runs} runs ({len(messages)} events) through EVENTS and KARR in {wall:.0f} s")
    finally:
        await rt.stop()


# Every request carries the owner's token, read by wrk's Lua from the environment (never on argv).
AUTH = """
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KITT_BENCH_TOKEN")
"""
SCATTERED = """
request = function()
  return wrk.format("GET", "/api/v1/runs?limit=50&offset=" .. math.random(0, %d))
end
"""


def wrk(url: str, token: str, seconds: int, script: str = "") -> str:
    command = ["wrk", "-t2", "-c64", f"-d{seconds}s", "--latency", url]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(AUTH + script)
        lua.flush()
        command += ["-s", lua.name]
        env = {**os.environ, "KITT_BENCH_TOKEN": token}
        out = subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"50%\s+([\d.]+\w+)", out)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return (
        f"{rps.group(1) if rps else '?'} req/s, p50 {p50.group(1) if p50 else '?'}, "
        f"p99 {p99.group(1) if p99 else '?'}, non-2xx {errors.group(1) if errors else 0}"
    )


async def clients(url: str, token: str, count: int, lines: int) -> None:
    """The browsers: `count` SSE connections over plain sockets (so the client's own cost stays small);
    prints a JSON summary of publish-to-receipt latencies (ms) once every browser has every line."""
    parts = urlsplit(url)
    head = f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
    request = head + f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    latencies: list[float] = []
    ready = 0

    async def one() -> None:
        nonlocal ready
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        writer.write(request.encode())
        await writer.drain()
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass  # the response head
        ready += 1
        got = 0
        while got < lines:
            raw = await reader.readline()
            if not raw:
                raise ConnectionError("the server closed the stream")
            start = raw.find(b"data: t=")
            if start >= 0:
                sent = float(raw[start + 8 :].split(b" ", 1)[0])
                latencies.append((time.time() - sent) * 1000)
                got += 1
        writer.close()

    tasks = [asyncio.create_task(one()) for _ in range(count)]
    while ready < count:
        await asyncio.sleep(0.05)
    print("ready", flush=True)
    await asyncio.wait_for(asyncio.gather(*tasks), 600)
    latencies.sort()
    summary = {
        "count": len(latencies),
        "p50": statistics.median(latencies),
        "p99": latencies[max(int(len(latencies) * 0.99) - 1, 0)],
        "max": latencies[-1],
    }
    print(json.dumps(summary), flush=True)


async def fan_out(api: str, token: str, nats_url: str, browsers: int, lines: int, rate: float) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=api, timeout=60, headers=auth) as client:
        await client.post("/api/v1/agents", json={"name": "bench-offline"})  # never connects
        body = {"agent": "bench-offline", "model": "m", "engine": "vllm", "runtime": "docker"}
        test_id = (await client.post("/api/v1/tests", json=body, params={"wait": "true"})).json()["id"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--clients",
        f"{api}/api/v1/tests/{test_id}/logs",
        str(browsers),
        str(lines),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "KITT_BENCH_TOKEN": token},  # not on argv, where ps shows it
    )
    assert proc.stdout is not None
    assert (await proc.stdout.readline()).decode().strip() == "ready"
    await asyncio.sleep(1.0)
    nc = await nats.connect(nats_url)
    start = time.perf_counter()
    for i in range(lines):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        line = logs.LogLine(
            run_id=test_id, source="kitt", line=f"t={time.time():.6f} line {i}", at=datetime.now(UTC)
        )
        await nc.publish(f"log.bench-offline.{test_id}", logs.encode(line))
    await nc.flush()
    got = json.loads((await proc.stdout.readline()).decode())
    await proc.wait()
    await nc.close()
    print(
        f"SSE fan-out: {browsers} browsers x {lines} lines at {rate:g}/s: publish-to-receipt "
        f"p50 {got['p50']:.1f} ms, p99 {got['p99']:.1f} ms, max {got['max']:.1f} ms ({got['count']} receipts)"
    )


async def _first_run(api: str, token: str) -> str:
    async with httpx.AsyncClient(base_url=api, headers={"Authorization": f"Bearer {token}"}) as client:
        for _ in range(300):
            try:
                if (await client.get("/api/v1/health")).status_code == 200:
                    break
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
        return (await client.get("/api/v1/runs", params={"limit": 1})).json()[0]["run_id"]


async def main(args: argparse.Namespace) -> None:
    if not shutil.which("wrk"):
        sys.exit("needs wrk (Debian: apt-get install wrk)")
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch) / "home"
        db_url = f"sqlite:///{scratch}/karr.db"
        if args.postgres:
            import asyncpg

            name = f"kitt_bench_api_{os.getpid()}"
            conn = await asyncpg.connect(PG_ADMIN)
            await conn.execute(f'CREATE DATABASE "{name}"')
            await conn.close()
            db_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
        settings = Settings(home=home, nats_url=None, database_url=normalize_url(db_url))
        await seed(settings, args.runs)
        port = free_port()
        token = localtoken.load_or_create(home)  # the owner's, made before kitt up reads it
        env = {**os.environ, "KITT_HOME": str(home), "KITT_DATABASE_URL": db_url}
        env.pop("KITT_NATS_URL", None)
        env.pop("KITT_AUTH_TOKEN", None)
        up = subprocess.Popen([*KITT, "up", "--port", str(port)], env=env, stderr=subprocess.DEVNULL)  # noqa: ASYNC220
        api = f"http://127.0.0.1:{port}"
        try:
            one = await _first_run(api, token)
            backend = "PostgreSQL" if args.postgres else "SQLite"
            print(f"{backend}, 64 connections, {args.seconds} s each (wrk):")
            for label, path in (
                ("API results list (50 runs)", "/api/v1/runs"),
                ("UI results page (25 runs)", "/runs"),
                ("API run document", f"/api/v1/runs/{one}"),
                ("UI run page (charts)", f"/runs/{one}"),
            ):
                print(f"  {label:28} {wrk(api + path, token, args.seconds)}")
            scattered = wrk(api, token, args.seconds, SCATTERED % max(args.runs - 50, 0))
            print(f"  {'API list, random pages':28} {scattered}  (every request a different page: no cache)")
            record = json.loads((home / "instance.json").read_text())
            password = credentials.load_or_create(home / "auth.json").kitt_password
            nats_url = credentials.url_with(record["nats_url"], "kitt", password)
            await fan_out(api, token, nats_url, args.browsers, args.lines, args.rate)
        finally:
            up.send_signal(signal.SIGTERM)
            up.wait(60)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--clients":
        token = os.environ["KITT_BENCH_TOKEN"]
        asyncio.run(clients(sys.argv[2], token, int(sys.argv[3]), int(sys.argv[4])))
        sys.exit(0)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--browsers", type=int, default=200)
    parser.add_argument("--lines", type=int, default=300)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (tests/test_bench.py)")
    parsed = parser.parse_args()
    if parsed.smoke:
        parsed.runs, parsed.seconds, parsed.browsers, parsed.lines, parsed.rate = 60, 1, 3, 5, 50.0
    asyncio.run(main(parsed))
