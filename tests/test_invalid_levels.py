"""A run with a level the load generator's self-check marked invalid is not passed off as clean: KARR
counts its invalid levels (both databases), lists and `kitt storage list` say "succeeded, 1 level
invalid", the results list filters on it, and `kitt compare` gives no verdict on such a level unless asked."""

import asyncio
import json

import msgspec
import pytest

from kitt.events import validity
from kitt.events.bus import EventBus
from kitt.events.results import BenchmarkResult, Metric
from kitt.projections.karr import KarrProjection
from kitt.projections.runner import Projector
from kitt.storage import documents, queries
from kitt.storage.checkpoints import wait_for_checkpoint
from tests import factories
from tests.test_cli import kitt
from tests.test_results_cli import _run


def _marked(doc, *levels_valid: tuple[str, bool]):
    """DOC with its first benchmark's levels given a `client_valid` verdict each."""
    first = doc.benchmarks[0]
    verdicts = tuple(
        Metric(
            name=validity.VALID_METRIC, value=1.0 if valid else 0.0, labels={"concurrency": level, "run": "0"}
        )
        for level, valid in levels_valid
    )
    marked = msgspec.structs.replace(first, metrics=(*first.metrics, *verdicts))
    return msgspec.structs.replace(doc, benchmarks=(marked, *doc.benchmarks[1:]))


def test_levels_are_named_as_records_name_them_and_the_status_reads_with_them():
    assert validity.level_name({"concurrency": "4", "run": "0"}) == "concurrency=4"
    assert validity.level_name({"rate": "2.5", "run": "1"}) == "rate=2.5 run 2"
    assert validity.status_text("succeeded", 0) == "succeeded"
    assert validity.status_text("succeeded", 1) == "succeeded, 1 level invalid"
    assert validity.status_text("succeeded", 2) == "succeeded, 2 levels invalid"
    old = BenchmarkResult(name="b", kind="performance", status="invalid")  # before per-level verdicts
    assert validity.invalid_levels(old) == [""] and validity.count([old, old]) == 2


@pytest.fixture
async def karr(nc, engine):
    stop = asyncio.Event()
    task = asyncio.create_task(Projector(KarrProjection(), nc, engine).run(stop))
    yield
    stop.set()
    await task


async def test_karr_counts_invalid_levels_and_the_list_filters_on_them(nc, engine, karr):
    bus = EventBus(nc)
    clean = _marked(factories.document("clean"), ("4", True), ("8", True))
    late = _marked(factories.document("late", seed=1), ("4", True), ("1024", False))
    old = factories.document("old", seed=2)
    old = msgspec.structs.replace(
        old, benchmarks=(msgspec.structs.replace(old.benchmarks[0], status="invalid"), *old.benchmarks[1:])
    )
    last = 0
    for doc in (clean, late, old):
        last = (await bus.append(factories.run_events(doc), msg_id=f"import-{doc.run_id}")).seq
    assert await wait_for_checkpoint(engine, "karr", last)
    runs = {r.run_id: r for r in await queries.list_runs(engine)}
    assert {i: r.invalid_levels for i, r in runs.items()} == {"clean": 0, "late": 1, "old": 1}
    assert (
        runs["late"].status_text == "succeeded, 1 level invalid" and runs["clean"].status_text == "succeeded"
    )
    flagged = await queries.list_runs(engine, queries.RunFilter(invalid=True))
    assert sorted(r.run_id for r in flagged) == ["late", "old"]
    assert await queries.count_runs(engine, queries.RunFilter(invalid=True)) == 2


def test_the_cli_says_so_and_compare_refuses_an_invalid_level_unless_asked(tmp_path):
    home = tmp_path / "home"
    base = _marked(_run("base", 100, 1), ("4", True))
    late = _marked(_run("late", 100, 2), ("4", False))
    file = tmp_path / "runs.json"
    file.write_bytes(documents.dumps([base, late]))
    kitt(home, "storage", "import", str(file))

    listed = kitt(home, "storage", "list").stdout
    assert "succeeded, 1 level invalid" in listed
    [flagged] = [
        r for r in json.loads(kitt(home, "storage", "list", "--json").stdout) if r["run_id"] == "late"
    ]
    assert flagged["invalid_levels"] == 1

    refused = kitt(home, "compare", "base", "late", "--fail-on-regression", check=False)
    assert refused.returncode == 1
    assert "no verdict on a level" in refused.stderr and "latency concurrency=4 (in late)" in refused.stderr
    allowed = kitt(home, "compare", "base", "late", "--allow-invalid", "--json")
    [level] = json.loads(allowed.stdout)["levels"]
    assert level["level"] == "concurrency=4" and level["differences"]
