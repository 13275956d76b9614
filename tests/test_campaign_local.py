"""A campaign without `agent:` runs on this machine: the runtime's local agent takes its items through the
same dispatch path as a GPU server's, and runs the real llama-server on copies of the tiny GGUF."""

import shutil

from kitt.storage import fleet
from tests.campaignhelpers import ended, planned, started


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
