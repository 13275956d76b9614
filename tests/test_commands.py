"""Commands over request/reply: validation against state, idempotency, bounded conflict retries."""

import asyncio

import msgspec
import pytest

from kitt.commands import messages as m
from kitt.commands.client import CommandFailed, send
from kitt.commands.service import CommandService
from kitt.events.bus import EventBus
from kitt.events.types import CampaignItem, CampaignSpec
from tests.factories import document, performance_result

SPEC = CampaignSpec(models=("a",), engines=("vllm",))
ITEMS = (CampaignItem(key="001", model="a", engine="vllm", suite="quick", agent="gpu-1"),)


@pytest.fixture
async def service(nc):
    svc = CommandService(nc)
    await svc.start()
    yield svc
    await svc.stop()


async def test_create_and_launch_campaign(nc, service):
    spec = CampaignSpec(models=("a.gguf", "b.gguf"), engines=("llama_cpp",))
    created = await send(nc, m.CreateCampaign(name="nightly", spec=spec, items=ITEMS))
    (campaign_id,) = created.ids
    launched = await send(nc, m.LaunchCampaign(campaign_id=campaign_id))
    assert launched.seq > created.seq
    with pytest.raises(CommandFailed, match="already launched") as info:
        await send(nc, m.LaunchCampaign(campaign_id=campaign_id))
    assert info.value.reply.code == "conflict"


async def test_a_retried_command_has_one_effect(nc, service):
    command = m.CreateCampaign(name="once", spec=CampaignSpec(models=("a",), engines=("vllm",)), items=ITEMS)
    first = await send(nc, command)
    again = await send(nc, command)
    assert again.duplicate and again.ids == first.ids
    history, _ = await EventBus(nc).load("campaign", first.ids[0])
    assert len(history) == 1


async def test_concurrent_commands_on_one_aggregate_retry_their_conflicts(nc, service):
    doc = document("run-busy")
    await send(nc, m.StartRun(run_id=doc.run_id, info=doc.info))
    results = [performance_result(seed) for seed in range(4)]
    replies = await asyncio.gather(
        *(send(nc, m.RecordBenchmark(run_id=doc.run_id, result=r)) for r in results)
    )
    assert all(r.ok for r in replies)
    history, _ = await EventBus(nc).load("run", doc.run_id)
    recorded = sorted(s.envelope.event.result.metrics[3].value for s in history[1:])
    assert recorded == sorted(r.metrics[3].value for r in results)


@pytest.mark.parametrize(
    ("command", "code", "message"),
    [
        (m.LaunchCampaign(campaign_id="nope"), "not_found", "campaign 'nope' does not exist"),
        (m.RecordBenchmark(run_id="ghost", result=performance_result()), "not_found", "run 'ghost'"),
        (m.CreateCampaign(name="x", spec=CampaignSpec(models=(), engines=("vllm",))), "invalid", "`models`"),
        (m.CancelTest(test_id="bad.id"), "invalid", "invalid test id 'bad.id'"),
        (m.CreateSchedule(name="s", cron="daily", template=SPEC, campaign_name="c"), "invalid", "5 fields"),
    ],
)
async def test_refusals_are_precise(nc, service, command, code, message):
    with pytest.raises(CommandFailed, match=message) as info:
        await send(nc, command)
    assert info.value.reply.code == code


async def test_malformed_and_unknown_commands_get_clear_errors(nc, service):
    reply = msgspec.json.decode((await nc.request("kitt.cmd.launch_campaign", b"{oops", timeout=5)).data)
    assert (
        reply["ok"] is False
        and reply["code"] == "invalid"
        and "invalid launch_campaign command" in reply["error"]
    )
    reply = msgspec.json.decode((await nc.request("kitt.cmd.self_destruct", b"{}", timeout=5)).data)
    assert reply["error"] == "unknown command 'self_destruct'"


async def test_no_command_service_is_a_clear_error(nc):
    with pytest.raises(CommandFailed, match="no command service"):
        await send(nc, m.ChangeSetting(key="model_dir", value="/models"))


async def test_a_command_service_that_never_answers_is_a_clear_error(nc):
    """As during a cluster's leader election: the request is taken but no reply comes in time."""

    async def take(_msg) -> None:
        return None  # taken, never answered

    silent = await nc.subscribe("kitt.cmd.change_setting", cb=take)
    try:
        with pytest.raises(CommandFailed, match="no reply from the command service within 1 s") as failed:
            await send(nc, m.ChangeSetting(key="model_dir", value="/models"), timeout=1.0)
        assert failed.value.reply.code == "unavailable"
    finally:
        await silent.unsubscribe()
