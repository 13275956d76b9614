"""Workloads: shared prefixes, multi-turn chats (on the real llama-server), trace replay (on the stub server),
and the warning when delivered output lengths differ from what was asked."""

import itertools
import json

import pytest

from kitt.bench import performance, prompts, workloads
from kitt.bench.columns import RecordColumns
from kitt.bench.records import RequestRecord
from kitt.bench.suites import PerformanceTest, Sampling, Suite
from kitt.engines import specs
from kitt.engines.runtime import Endpoint
from kitt.events.ids import uuid7
from kitt.events.results import Sample
from kitt.orchestration.executor import Executor, RunRequest
from kitt.orchestration.reporting import CommandReporter
from kitt.storage import queries, records
from kitt.storage.checkpoints import wait_for_checkpoint
from kitt.yamlfile import YamlError, parse_yaml
from tests.stubprocess import running_stub


def test_shared_prefix_groups_share_a_prefix_and_cache_busting_breaks_it():
    shared = workloads.SharedPrefix(groups=3, prefix_tokens=20)
    texts = workloads.shared_prefix_prompts(shared, 9, 5, seed=1)
    heads = [t.split("\n")[0] for t in texts]
    assert len(set(heads)) == 3 and heads[0] == heads[3] == heads[6] and len(heads[0].split()) == 20
    assert len(set(texts)) == 9  # every request has a suffix of its own
    busted = workloads.shared_prefix_prompts(
        workloads.SharedPrefix(groups=3, prefix_tokens=20, cache_busting=True), 9, 5, seed=1
    )
    assert len({t.split()[0] for t in busted}) == 9  # a unique first token: no prefix can be reused


def test_a_trace_is_read_in_time_order_with_precise_errors(tmp_path):
    trace = tmp_path / "trace.jsonl"
    trace.write_text(
        '{"timestamp": 1500, "input_length": 8, "output_length": 3}\n'
        '{"timestamp": 1000, "input_tokens": 4, "output_tokens": 2}\n'
    )
    found = workloads.read_trace(workloads.Trace(path=str(trace), timestamp_unit="ms"))
    assert found == [workloads.TraceRequest(0.0, 4, 2), workloads.TraceRequest(0.5, 8, 3)]
    trace.write_text('{"timestamp": 0, "input_tokens": 4}\n')
    with pytest.raises(prompts.PromptError, match=r"trace.jsonl:1: a trace line needs positive"):
        workloads.read_trace(workloads.Trace(path=str(trace)))
    trace.write_text("not json\n")
    with pytest.raises(prompts.PromptError, match=r"trace.jsonl:1: "):
        workloads.read_trace(workloads.Trace(path=str(trace)))
    suite = "name: t\ntests:\n  - {kind: performance, name: t, rate: [2], workload: {kind: trace, path: x}}\n"
    with pytest.raises(YamlError, match="a trace sets its own arrival times"):
        parse_yaml(suite, Suite, source="suite")


async def test_a_trace_is_replayed_at_its_timestamps_and_lengths(tmp_path):
    trace = tmp_path / "trace.jsonl"
    times = [0.0, 0.1, 0.25, 0.5, 0.55, 0.9]
    trace.write_text(
        workloads.dumps_trace([workloads.TraceRequest(t, 4 + i, 2 + i) for i, t in enumerate(times)])
    )
    test = PerformanceTest(
        name="replay",
        workload=workloads.Trace(path=str(trace)),
        warmup_requests=0,
        max_requests=None,
        max_duration_s=5,
    )
    kept: list[Sample] = []
    with running_stub() as url:
        port = int(url.rsplit(":", 1)[1])
        endpoint = Endpoint(host="127.0.0.1", port=port, model="stub", spec=specs.get("vllm"))
        result, _ = await performance.run_test(test, Sampling(max_tokens=64), endpoint, keep=kept.append)
    # On a busy machine the client itself may send late: that makes the result invalid, and says so.
    assert result.status == "succeeded" or (result.status == "invalid" and "late" in (result.error or ""))
    replayed = sorted((RequestRecord.from_sample(s) for s in kept), key=lambda r: r.index)
    assert [r.scheduled for r in replayed] == pytest.approx(times)
    assert [r.output_tokens for r in replayed] == [2 + i for i in range(len(times))]  # each its own length
    assert all(r.start >= (r.scheduled or 0) for r in replayed)  # never early; lateness is recorded
    assert any(m.name == "schedule_lateness" for m in result.metrics)
    assert {m.labels["rate"] for m in result.metrics if m.name == "ttft"} == {f"{len(times) / 0.9:.4g}"}


def test_delivered_lengths_that_differ_from_the_ask_are_flagged():
    def rec(i: int, tokens: int) -> RequestRecord:
        return RequestRecord(
            index=i, worker=0, start=0.0, chunk_offsets=[0.01] * tokens, end=0.1, output_tokens=tokens
        )

    exact = RecordColumns.of([rec(0, 8), rec(1, 8)])
    assert performance._length_mismatch(exact, 8) is None
    short = RecordColumns.of([rec(0, 8), rec(1, 3), rec(2, 5), rec(3, 8)])
    share, text = performance._length_mismatch(short, 8)
    assert share == 50.0 and "2 of 4 requests delivered other than the 8 output tokens asked" in text
    assert "min 3" in text


MULTI_TURN = """
name: chat
tests:
  - kind: performance
    name: chat
    max_requests: 6
    warmup_requests: 0
    input_tokens: 8
    workload: {kind: multi_turn, sessions: 2, turns: 3, think_time_s: 0.05}
sampling: {max_tokens: 4}
"""


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_multi_turn_chats_grow_their_history_on_the_real_llama_server(runtime, tiny_model, tmp_path):
    suite = tmp_path / "chat.yaml"
    suite.write_text(MULTI_TURN)
    request = RunRequest(
        run_id=uuid7(), model=str(tiny_model), engine="llama_cpp", runtime="native", suite=str(suite)
    )
    outcome = await Executor(CommandReporter(runtime.nc), home=runtime.settings.home).run(request)
    assert outcome.status == "succeeded", outcome.error
    assert await wait_for_checkpoint(runtime.engine, "karr", outcome.seq)
    [doc] = await queries.documents(runtime.engine, [outcome.run_id])
    samples = await records.samples_of(runtime.nc, doc.benchmarks[0])
    chats: dict[int, list[RequestRecord]] = {}
    for s in samples:
        record = RequestRecord.from_sample(s)
        chats.setdefault(record.session or 0, []).append(record)
    assert len(chats) == 2 and all(len(turns) == 3 for turns in chats.values())
    for turns in chats.values():
        turns.sort(key=lambda r: r.turn or 0)
        assert [r.turn for r in turns] == [0, 1, 2]
        # The engine's own count: every turn's prompt holds the whole chat so far.
        prompt_tokens = [r.prompt_tokens or 0 for r in turns]
        assert prompt_tokens == sorted(set(prompt_tokens)), prompt_tokens
        # A turn starts only after the one before ended, and its think time.
        for before, after in itertools.pairwise(turns):
            assert after.start >= before.start + before.end + 0.05
    assert json.loads(json.dumps(samples))  # plain JSON records, as exported
