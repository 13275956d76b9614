"""The event bus and stream definitions against a real nats-server."""

import msgspec
import pytest

from kitt.events import streams
from kitt.events import types as ev
from kitt.events.bus import AppendConflict, EventBus
from kitt.events.envelope import wrap
from kitt.events.types import DispatchRequested, SettingChanged
from tests.factories import document, run_events


async def test_streams_apply_is_idempotent(nc):
    js = nc.jetstream()
    again = await streams.apply(js)
    assert again == [f"{s.name}: up to date" for s in streams.definitions()]
    info = await js.stream_info(streams.EVENTS)
    assert info.config.deny_delete and info.config.deny_purge and info.config.allow_atomic


async def test_stale_expected_sequence_is_a_conflict(nc):
    bus = EventBus(nc)
    first = await bus.append([wrap(SettingChanged(key="a", value=1), "a")], expected_seq=0)
    with pytest.raises(AppendConflict):
        await bus.append([wrap(SettingChanged(key="a", value=2), "a")], expected_seq=0)
    ok = await bus.append([wrap(SettingChanged(key="a", value=2), "a")], expected_seq=first.seq)
    history, version = await bus.load("setting", "a")
    assert [s.envelope.event.value for s in history] == [1, 2]
    assert version == ok.seq


async def test_a_refused_batch_stores_nothing(nc):
    bus = EventBus(nc)
    events = run_events(document("run-b"))
    await bus.append(events[:1], expected_seq=0)
    before = await bus.last_seq()
    with pytest.raises(AppendConflict):
        await bus.append(events[1:], expected_seq=0)  # run-b is not new: the whole batch is refused
    assert await bus.last_seq() == before
    history, _ = await bus.load("run", "run-b")
    assert len(history) == 1


async def test_batch_is_atomic_and_ordered(nc):
    bus = EventBus(nc)
    events = run_events(document("run-c"))
    result = await bus.append(events, msg_id="cmd-c", expected_seq=0)
    history, version = await bus.load("run", "run-c")
    assert [s.envelope for s in history] == events
    assert version == result.seq and result.seq == len(events)


async def test_dispatch_is_sourced_into_the_agents_work_queue(nc):
    bus = EventBus(nc)
    spec = ev.TestSpec(model="/models/m.gguf", engine="llama_cpp")
    await bus.append([wrap(DispatchRequested(test_id="t1", spec=spec), "gpu-01")])
    js = nc.jetstream()
    sub = await js.pull_subscribe("dispatch.gpu-01.>", durable="gpu-01", stream=streams.DISPATCH)
    msgs = await sub.fetch(1, timeout=10)
    assert msgs[0].subject == "dispatch.gpu-01.test"
    assert msgspec.json.decode(msgs[0].data)["event"]["test_id"] == "t1"


async def test_committed_events_are_republished_on_live(nc):
    sub = await nc.subscribe("live.ev.>")
    await EventBus(nc).append([wrap(SettingChanged(key="live", value=True), "live")])
    msg = await sub.next_msg(timeout=5)
    assert msg.subject == "live.ev.setting.live.setting_changed"
