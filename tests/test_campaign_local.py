"""A campaign without `agent:` runs on this machine: the runtime's local agent takes its items through the
same dispatch path as a GPU server's, and runs the real llama-server on copies of the tiny GGUF."""

import shutil

import msgspec
import pytest

from kitt.events.bus import EventBus
from kitt.storage import fleet
from tests.campaignhelpers import ended, planned, started
from tests.devonserver import DevonServer, DevonState
from tests.test_agents import _log_lines


@pytest.mark.slow  # real llama-server items; the fast tier runs the campaign path on simulated agents
async def test_a_local_campaign_runs_real_llama_server_items(runtime, tiny_model, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(tiny_model, models / "tiny-a-Q8_0.gguf")
    shutil.copy(tiny_model, models / "tiny-b-F32.gguf")
    (models / "notes.txt").write_text("not a model")
    text = f"name: local\nmodels: [{models}]\nengines: [llama_cpp, vllm]\nruntime: native\n"
    dry = await planned(runtime, text, dry=True)
    assert [(i.model.rsplit("/", 1)[-1], i.engine, i.agent) for i in dry.items] == [
        ("tiny-a-Q8_0.gguf", "llama_cpp", "local"),
        ("tiny-b-F32.gguf", "llama_cpp", "local"),
    ]
    assert {s.engine for s in dry.skipped} == {"vllm"} and len(dry.skipped) == 2
    assert all("cannot serve a gguf model" in s.reason for s in dry.skipped)

    plan, campaign_id = await started(runtime, text)
    assert plan.items == dry.items
    detail = await ended(runtime, campaign_id, timeout=240)
    assert detail.campaign.status == "succeeded", [(i.status, i.error) for i in detail.items]
    for item in detail.items:
        assert item.status == "succeeded" and not item.simulated and item.run_id
        assert item.figures["output_throughput"] > 0 and item.figures["ttft_p99"] > 0
        test = await fleet.test(runtime.engine, item.test_id)
        assert test is not None and test.agent == "local" and not test.simulated
    agent = await fleet.agent(runtime.engine, "local")
    assert agent is not None and agent.status == "registered" and not agent.simulated


async def test_quant_filter_takes_only_the_asked_quantisations(runtime, tiny_model, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    for name in ("m-Q4_K_M.gguf", "m-Q8_0.gguf", "m-F16.gguf"):
        shutil.copy(tiny_model, models / name)
    text = f"name: q\nmodels: [{models}]\nengines: [llama_cpp]\nquant_filter: [Q4_K_M, q8_0]\n"
    dry = await planned(runtime, text, dry=True)
    assert sorted(i.model.rsplit("/", 1)[-1] for i in dry.items) == ["m-Q4_K_M.gguf", "m-Q8_0.gguf"]


async def test_a_devon_managed_campaign_fetches_each_model_through_devon(
    runtime, tiny_model, tmp_path, monkeypatch
):
    """The local agent fetches each item's model (a Devon model id) through a test Devon written to Devon's
    API (tests/devonserver.py) that serves the tiny GGUF, runs the real llama-server on the path Devon gave,
    and removes it through Devon afterwards (cleanup). A model whose download fails fails its item with
    Devon's own words. The agent's Devon key is its own: it is in no event."""
    key = "devon-key-for-the-local-agent-0123"
    monkeypatch.setenv("DEVON_API_KEY", key)
    state = DevonState(storage=tmp_path / "devon", api_key=key, payload=tiny_model.read_bytes())
    with DevonServer(state) as devon:
        monkeypatch.setenv("DEVON_URL", devon.url)  # the local agent's own Devon: the campaign's must match
        text = (
            f"name: devon\nmodels: [kitt-test/tiny-llama-GGUF, kitt-test/broken-GGUF]\nengines: [llama_cpp]\n"
            f"runtime: native\ndevon_managed: true\ndevon_url: {devon.url}\ncleanup: true\n"
        )
        dry = await planned(runtime, text, dry=True)
        assert sorted(i.model for i in dry.items) == ["kitt-test/broken-GGUF", "kitt-test/tiny-llama-GGUF"]
        assert all(i.model_format == "gguf" and i.agent == "local" for i in dry.items) and not dry.skipped
        _, campaign_id = await started(runtime, text)
        detail = await ended(runtime, campaign_id, timeout=240)
    by_model = {i.model: i for i in detail.items}
    assert detail.campaign.status == "completed_with_failures"
    good, broken = by_model["kitt-test/tiny-llama-GGUF"], by_model["kitt-test/broken-GGUF"]
    assert good.status == "succeeded" and good.figures["output_throughput"] > 0, good
    assert broken.status == "failed" and "failed (500): Download failed: kitt-test/broken-GGUF" in (
        broken.error or ""
    )
    lines = [line.line for line in await _log_lines(runtime, "local", good.test_id)]
    assert any(f"fetched kitt-test/tiny-llama-GGUF through Devon at {devon.url}" in line for line in lines)
    assert any("removed kitt-test/tiny-llama-GGUF through Devon" in line for line in lines)
    assert (
        state.local == {}
        and not (tmp_path / "devon" / "huggingface" / "kitt-test" / "tiny-llama-GGUF").exists()
    )
    async for stored_event in EventBus(runtime.nc).read("ev.>"):
        assert key.encode() not in msgspec.json.encode(stored_event.envelope.event)
