"""Every projection, fed through commands, then rebuilt from the streams: identical rows (both databases)."""

import asyncio
import os
import signal
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from kitt.commands import messages as m
from kitt.commands.client import send
from kitt.commands.service import CommandService
from kitt.events import codec, subjects
from kitt.events.bus import EventBus
from kitt.events.types import CampaignItem, CampaignSpec, TestSpec
from kitt.projections import admin, shadow
from kitt.projections.models import (
    AgentRow,
    CampaignRow,
    Checkpoint,
    EngineProfileRow,
    RunRow,
    SettingRow,
    TestRow,
)
from kitt.projections.registry import all_projections
from tests.apiserver import TOKEN, app_for, serving
from tests.factories import document, run_events
from tests.snapshots import snapshot
from tests.waiting import eventually

SPEC = CampaignSpec(models=("a", "b"), engines=("vllm",))
ITEMS = tuple(
    CampaignItem(key=f"{n:03d}", model=model, engine="vllm", suite="quick", agent="gpu-01")
    for n, model in enumerate(SPEC.models, start=1)
)


async def _everything(nc) -> None:
    svc = CommandService(nc)
    await svc.start()
    try:
        campaign = (await send(nc, m.CreateCampaign(name="nightly", spec=SPEC, items=ITEMS))).ids[0]
        await send(nc, m.LaunchCampaign(campaign_id=campaign))
        await send(nc, m.ProvisionAgent(name="gpu-01", token_hash="ab" * 32))  # a test names a live agent
        test = (
            await send(
                nc,
                m.RequestTest(spec=TestSpec(model="a", engine="vllm"), agent="gpu-01", campaign_id=campaign),
            )
        ).ids[0]
        await send(nc, m.CancelTest(test_id=test, reason="operator"))
        await send(nc, m.RotateAgentToken(agent_id="gpu-01", token_hash="cd" * 32))
        await send(nc, m.ChangeSetting(key="model_dir", value="/models"))
        await send(nc, m.SaveEngineProfile(name="big-ctx", engine="vllm", args=("--max-model-len", "32768")))
        schedule = m.CreateSchedule(name="nightly", cron="0 2 * * *", template=SPEC, campaign_name="nightly")
        await send(nc, schedule)
        for i in range(3):
            await send(nc, m.ImportResult(document=document(f"run-{i}", seed=i)))
    finally:
        await svc.stop()


async def test_projections_fold_commands_and_rebuild_identically(nc, engine, tmp_path):
    await _everything(nc)
    for projection in all_projections():
        await admin.catch_up(nc, engine, projection)
    live = await snapshot(engine)
    assert len(live["karr_runs"]) == 3 and len(live["karr_metrics"]) == 24
    async with engine.connect() as conn:
        assert (await conn.execute(select(CampaignRow.status, CampaignRow.total_items))).one() == (
            "running",
            2,
        )
        assert (await conn.execute(select(TestRow.status, TestRow.agent))).one() == ("cancelling", "gpu-01")
        assert (await conn.execute(select(AgentRow.status, AgentRow.token_hash))).one() == (
            "provisioned",
            "cd" * 32,
        )
        assert (await conn.execute(select(SettingRow.value))).scalar_one() == '"/models"'
        assert (
            await conn.execute(select(EngineProfileRow.args))
        ).scalar_one() == '["--max-model-len","32768"]'
    for projection in all_projections():
        await admin.rebuild(nc, engine, projection)
    assert await snapshot(engine) == live
    statuses = await admin.status(nc, engine, all_projections())
    assert all(s.lag == 0 for s in statuses)
    for projection in all_projections():  # through a shadow database, switched in: the same rows again
        await shadow.rebuild(nc, engine, projection, tmp_path / f"shadow-{projection.name}.db")
    assert await snapshot(engine) == live
    assert not list(tmp_path.glob("shadow-*"))  # the scratch databases are gone


async def test_a_rebuild_while_kitt_runs_keeps_the_api_answering(runtime, tmp_path):
    """The live projector keeps writing and the API keeps answering while KARR is rebuilt beside it:
    every read during the rebuild sees all the runs there were, and nothing ends up twice or missing."""
    for i in range(40):
        await send(runtime.nc, m.ImportResult(document=document(f"run-{i:03d}", seed=i)))
    await eventually(lambda: _at_least(runtime.engine, 40))
    before = await snapshot(runtime.engine)
    seen: list[int] = []
    async with serving(app_for(runtime, token=TOKEN)) as client:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        karr = next(p for p in all_projections() if p.name == "karr")
        rebuilding = asyncio.create_task(
            shadow.rebuild(runtime.nc, runtime.engine, karr, tmp_path / "karr.db")
        )
        added = 0
        while not rebuilding.done():
            answer = await client.get("/api/v1/runs?limit=500", headers=auth)
            assert answer.status_code == 200
            seen.append(len(answer.json()))
            if added < 5:  # events keep arriving meanwhile, for the live projector and the shadow
                await send(runtime.nc, m.ImportResult(document=document(f"late-{added}", seed=100 + added)))
                added += 1
            await asyncio.wait({rebuilding}, timeout=0.02)  # the next read, or the rebuild's end
        await rebuilding
        assert added >= 1  # at least one arrived while the rebuild ran
        for late in range(added, 5):  # a quick rebuild left fewer reads: the rest arrive after it
            await send(runtime.nc, m.ImportResult(document=document(f"late-{late}", seed=100 + late)))
    await eventually(lambda: _at_least(runtime.engine, 45))
    assert min(seen) >= 40 and len(seen) > 1  # never empty, never fewer: the old rows until the switch
    after = await snapshot(runtime.engine)
    assert len(after["karr_runs"]) == 45 and len(after["karr_metrics"]) == 45 * 8
    assert [r for r in after["karr_runs"] if not r[0].startswith("late-")] == before["karr_runs"]


async def _at_least(engine, runs: int) -> bool:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(RunRow))).scalar_one() >= runs


def _projector(nats_url: str, db_url: str, batch: int) -> subprocess.Popen:
    env = {**os.environ, "KITT_NATS_URL": nats_url, "KITT_DATABASE_URL": db_url}
    cmd = [
        sys.executable,
        "-m",
        "kitt.cli.main",
        "--log-level",
        "error",
        "project",
        "--only",
        "karr",
        "--batch-size",
        str(batch),
    ]
    return subprocess.Popen(cmd, env=env)


async def _checkpoint(engine) -> int:
    async with engine.connect() as conn:
        row = (await conn.execute(select(Checkpoint.last_seq).where(Checkpoint.name == "karr"))).first()
    return row[0] if row else 0


@pytest.mark.slow
async def test_kill_9_mid_batch_then_restart_equals_a_clean_rebuild(nc, nats_server, engine, database_url):
    js = nc.jetstream(publish_async_max_pending=2000)
    for i in range(1500):
        for env in run_events(document(f"run-{i}", seed=i % 7)):
            data, headers = codec.encode(env)
            await js.publish_async(
                subjects.event(env.aggregate, env.aggregate_id, env.type), data, headers=headers
            )
    await js.publish_async_completed()
    last = await EventBus(nc).last_seq()

    kills = 0
    while kills < 3:
        proc = _projector(nats_server.url, database_url, batch=200)
        start = await _checkpoint(engine)
        await eventually(lambda s=start: _progressed(engine, s), timeout=60, interval=0.01)
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream; a batch is usually half-written
        proc.wait()
        kills += 1
    proc = _projector(nats_server.url, database_url, batch=200)
    try:
        await eventually(lambda: _reached(engine, last), timeout=120)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0  # clean shutdown on SIGTERM
    after_crashes = await snapshot(engine)
    karr = next(p for p in all_projections() if p.name == "karr")
    await admin.rebuild(nc, engine, karr)
    assert await snapshot(engine) == after_crashes
    assert len(after_crashes["karr_runs"]) == 1500


async def _progressed(engine, start: int) -> bool:
    return await _checkpoint(engine) > start


async def _reached(engine, seq: int) -> bool:
    return await _checkpoint(engine) >= seq
