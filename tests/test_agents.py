"""Agents over JetStream: real `kitt-agent` processes against the embedded runtime (real NATS with KITT's
auth callout on, both databases), running tests on the real llama.cpp server with the tiny GGUF."""

import asyncio
import json
import os
import signal
from pathlib import Path

import nats.errors
import pytest

from kitt.agent import config as agent_config
from kitt.auth import permissions
from kitt.commands.client import CommandFailed, send
from kitt.commands.messages import CancelTest, ChangeAgentSettings, RequestTest, RevokeAgent
from kitt.events import logs, reports, streams
from kitt.events.bus import EventBus
from kitt.events.types import TestSpec
from kitt.runtime.embedded import Runtime
from kitt.storage import fleet, queries
from tests import factories
from tests.agenthosts import finished_run, provision, registered, settings_for, test_status
from tests.test_run import LONG_SUITE, _engine_processes
from tests.waiting import elapse, eventually

OUTAGE_S = 2.0


async def _request(rt: Runtime, agent: str, model: Path | str, suite: str = "quick") -> str:
    spec = TestSpec(model=str(model), engine="llama_cpp", suite=suite, runtime="native")
    reply = await send(rt.nc, RequestTest(spec=spec, agent=agent))
    return reply.ids[0]


async def _log_lines(rt: Runtime, agent: str, test_id: str) -> list[logs.LogLine]:
    js = rt.nc.jetstream()
    sub = await js.subscribe(f"log.{agent}.{test_id}", ordered_consumer=True)
    lines = []
    try:
        while True:
            try:
                lines.append(logs.decode((await sub.next_msg(timeout=1)).data))
            except TimeoutError:
                return lines
    finally:
        await sub.unsubscribe()


async def test_a_real_test_on_an_agent_lands_in_karr(runtime, agents, tiny_model):
    token = await provision(runtime, "gpu-a")
    agent = agents(runtime, "gpu-a", token).start()
    found = await eventually(lambda: registered(runtime, "gpu-a"), timeout=60)
    assert found.hardware is not None and "llama_cpp" in found.engines
    online = await eventually(lambda: _online(runtime, "gpu-a"), timeout=30)
    assert online.last_seen is not None

    test_id = await _request(runtime, "gpu-a", tiny_model)
    test = await test_status(runtime, test_id, "succeeded", "failed")
    assert test.status == "succeeded", test.error
    doc = await finished_run(runtime, test.run_id)
    assert doc.status == "succeeded" and doc.info.agent == "gpu-a" and doc.info.engine == "llama_cpp"
    assert {b.name for b in doc.benchmarks} >= {"latency", "warmup"}
    lines = await _log_lines(runtime, "gpu-a", test_id)
    kitt_lines = [line.line for line in lines if line.source == "kitt"]
    latency = next(b for b in doc.benchmarks if b.name == "latency")
    assert factories.measured(latency.status, latency.error), latency.error
    assert kitt_lines[0] == "benchmark latency started"
    assert kitt_lines[-1] == f"benchmark latency {latency.status}"
    assert any(line.source == "engine" for line in lines)
    assert [line.at for line in lines] == sorted(line.at for line in lines)  # in order
    assert "agent.stopped" in agent.stop()


async def _online(rt: Runtime, name: str) -> fleet.Agent | None:
    found = await fleet.agent(rt.engine, name)
    found = await fleet.presence(rt.nc, found) if found else None
    return found if found is not None and found.online else None


async def test_a_dispatch_made_while_the_agent_is_offline_runs_on_its_return(runtime, agents, tiny_model):
    token = await provision(runtime, "gpu-b")
    test_id = await _request(runtime, "gpu-b", tiny_model)
    assert (await test_status(runtime, test_id, "dispatched")).agent == "gpu-b"
    agents(runtime, "gpu-b", token).start()
    test = await test_status(runtime, test_id, "succeeded", "failed")
    assert test.status == "succeeded", test.error


async def test_cancel_mid_run_stops_the_engine_and_records_cancelled(runtime, agents, tiny_model, tmp_path):
    suite = tmp_path / "long.yaml"
    suite.write_text(LONG_SUITE)
    token = await provision(runtime, "gpu-c")
    agents(runtime, "gpu-c", token).start()
    test_id = await _request(runtime, "gpu-c", tiny_model, suite=str(suite))
    await test_status(runtime, test_id, "running")
    await eventually(_engines(tiny_model, running=True), timeout=60)
    await send(runtime.nc, CancelTest(test_id=test_id, reason="changed my mind"))
    test = await test_status(runtime, test_id, "cancelled", "failed", "succeeded", timeout=30)
    assert test.status == "cancelled"
    await eventually(_engines(tiny_model, running=False), timeout=15)
    [doc] = await queries.documents(runtime.engine, [test.run_id])
    await eventually(lambda: _run_status(runtime, test.run_id, "cancelled"), timeout=15)
    assert doc.info.agent == "gpu-c"


def _engines(model: Path, *, running: bool):
    async def check() -> bool:
        return bool(_engine_processes(model)) == running

    return check


async def _run_status(rt: Runtime, run_id: str, status: str) -> bool:
    [doc] = await queries.documents(rt.engine, [run_id])
    return doc.status == status


async def test_the_ingestor_refuses_reports_that_are_not_the_agents_own(runtime, tiny_model):
    await provision(runtime, "honest")
    await provision(runtime, "sneaky")
    test_id = await _request(runtime, "honest", tiny_model)
    await test_status(runtime, test_id, "dispatched")
    js = runtime.nc.jetstream()
    forged = reports.TestStartedReport(test_id=test_id, run_id="r1")
    await js.publish(f"in.sneaky.{test_id}", reports.encode(forged))
    await js.publish("in.sneaky.agent", b"{not json")
    ghost = reports.TestFinishedReport(test_id="no-such-test", status="succeeded")
    await js.publish("in.honest.no-such-test", reports.encode(ghost))

    async def refused():
        found = await fleet.refused_reports(runtime.engine)
        return found if len(found) >= 3 else None

    found = await eventually(refused, timeout=20)
    reasons = [reason for _, reason in found]
    assert f"agent sneaky reported for test {test_id}, which is not assigned to it" in reasons
    assert any("JSON" in r or "malformed" in r.lower() for r in reasons)
    assert "agent honest reported for unknown test no-such-test" in reasons
    assert (await fleet.test(runtime.engine, test_id)).status == "dispatched"  # nothing applied


async def test_a_test_for_an_unknown_or_revoked_agent_is_refused_with_the_reason(runtime, tiny_model):
    """The command refuses it, whoever sends it (here a client straight on NATS): nothing is queued."""
    with pytest.raises(CommandFailed) as unknown:
        await _request(runtime, "nobody", tiny_model)
    assert unknown.value.reply.code == "not_found"
    assert unknown.value.reply.error == "unknown agent 'nobody' (see `kitt agents list`)"
    await provision(runtime, "gone")
    await send(runtime.nc, RevokeAgent(agent_id="gone", reason="retired"))
    with pytest.raises(CommandFailed) as revoked:
        await _request(runtime, "gone", tiny_model)
    reply = revoked.value.reply
    assert (reply.code, reply.error) == ("conflict", "agent gone has been revoked")
    assert await fleet.tests(runtime.engine) == []


@pytest.fixture
async def impatient(database_url: str, tmp_path: Path):
    """A runtime that gives up on a running test after 8 s."""
    home = tmp_path / "home"
    home.mkdir()
    rt = Runtime(settings_for(database_url, home, test_timeout_s=8))
    await rt.start()
    yield rt
    await rt.stop()


async def test_an_agent_killed_mid_test_is_failed_after_the_timeout(impatient, agents, tiny_model, tmp_path):
    suite = tmp_path / "long.yaml"
    suite.write_text(LONG_SUITE)
    token = await provision(impatient, "gpu-d")
    agent = agents(impatient, "gpu-d", token).start()
    test_id = await _request(impatient, "gpu-d", tiny_model, suite=str(suite))
    await test_status(impatient, test_id, "running")
    agent.process.kill()  # kill -9: no report, no cleanup
    test = await test_status(impatient, test_id, "failed", timeout=40)
    assert test.error == "lost: agent gpu-d reported no result within 8 s"
    for pid in _engine_processes(tiny_model):  # PDEATHSIG stops the orphaned engine; make sure
        os.kill(pid, signal.SIGKILL)
    await asyncio.sleep(0)


async def test_a_dispatch_never_finished_after_max_deliver_fails_its_test(runtime, tiny_model):
    """A consumer that keeps taking the test and never finishing it (here: nak five times, as a crashing
    agent would) exhausts max_deliver; the advisory turns that into a failed test, not a silent stall."""
    await provision(runtime, "flaky")
    test_id = await _request(runtime, "flaky", tiny_model)
    await test_status(runtime, test_id, "dispatched")
    queue = await runtime.nc.jetstream().pull_subscribe_bind(
        permissions.consumers("flaky")[0], stream="DISPATCH"
    )
    for _ in range(5):
        [msg] = await queue.fetch(1, timeout=5)
        await msg.nak()
    with pytest.raises((TimeoutError, nats.errors.TimeoutError)):
        await queue.fetch(1, timeout=1)  # a sixth take: JetStream has given up on it
    test = await test_status(runtime, test_id, "failed", timeout=15)
    assert test.error == "agent flaky took the test 5 times without finishing it"


async def test_settings_changed_on_the_server_reach_the_running_agent(runtime, agents):
    token = await provision(runtime, "gpu-s")
    agent = agents(runtime, "gpu-s", token).start()
    await eventually(lambda: registered(runtime, "gpu-s"), timeout=30)
    reply = await send(
        runtime.nc, ChangeAgentSettings(agent_id="gpu-s", settings={"model_dir": "/srv/models"})
    )
    await send(runtime.nc, ChangeAgentSettings(agent_id="gpu-s", settings={"heartbeat_s": 2.5}))
    config = agent.home / "agent.yaml"

    async def applied():
        saved = agent_config.load(config)
        return saved if saved.heartbeat_s == 2.5 and saved.model_dir == "/srv/models" else None

    saved = await eventually(applied, timeout=15)
    assert saved.token == token and oct(config.stat().st_mode & 0o777) == "0o600"
    assert reply.ok
    rejected = await send_refused(runtime, ChangeAgentSettings(agent_id="gpu-s", settings={"gpu": "fast"}))
    assert "unknown agent setting 'gpu'" in rejected


async def send_refused(rt: Runtime, command) -> str:
    with pytest.raises(CommandFailed) as caught:
        await send(rt.nc, command)
    return str(caught.value)


SHORT_SOAK = """
name: soak
tests:
  - kind: performance
    name: soak
    concurrency: [2]
    max_requests: null
    max_duration_s: 10
    input_tokens: 16
sampling: {max_tokens: 32}
"""


@pytest.mark.slow  # real engines through restarts; test_a_real_test_on_an_agent_lands_in_karr stays fast
async def test_a_nats_restart_mid_test_loses_nothing(runtime, agents, tiny_model, tmp_path):
    suite = tmp_path / "soak.yaml"
    suite.write_text(SHORT_SOAK)
    token = await provision(runtime, "gpu-r")
    agent = agents(runtime, "gpu-r", token).start()
    test_id = await _request(runtime, "gpu-r", tiny_model, suite=str(suite))
    await test_status(runtime, test_id, "running")
    await eventually(lambda: _log_lines(runtime, "gpu-r", test_id), timeout=30)  # the soak is under way
    await asyncio.to_thread(runtime.server.stop)  # everyone loses NATS mid-test ...
    await elapse(OUTAGE_S)  # an outage this long (the time is the thing simulated)
    await asyncio.to_thread(runtime.server.start)  # ... same port, same store
    try:
        test = await test_status(runtime, test_id, "succeeded", "failed", timeout=60)
    except AssertionError:
        raise AssertionError(agent.stop()[-6000:]) from None
    assert test.status == "succeeded", test.error
    await eventually(lambda: _run_status(runtime, test.run_id, "succeeded"), timeout=15)  # KARR lags a little
    [doc] = await queries.documents(runtime.engine, [test.run_id])
    assert doc.benchmarks[0].name == "soak"


@pytest.mark.slow  # real engines through restarts; test_a_real_test_on_an_agent_lands_in_karr stays fast
async def test_a_runtime_restart_loses_no_dispatched_test(database_url, tmp_path, agents, tiny_model):
    home = tmp_path / "home"
    home.mkdir()
    first = Runtime(settings_for(database_url, home))
    await first.start()
    token = await provision(first, "gpu-q")
    test_id = await _request(first, "gpu-q", tiny_model)
    await test_status(first, test_id, "dispatched")
    await first.stop()  # the server goes down with the test queued and its agent offline
    second = Runtime(settings_for(database_url, home))
    await second.start()
    try:
        agents(second, "gpu-q", token).start()
        test = await test_status(second, test_id, "succeeded", "failed")
        assert test.status == "succeeded", test.error
    finally:
        await second.stop()


async def test_models_are_copied_from_the_share_and_removed_after(runtime, agents, tiny_model, tmp_path):
    share, local = tmp_path / "share", tmp_path / "local"
    (share / "llama").mkdir(parents=True)
    (share / "llama" / "tiny.gguf").write_bytes(tiny_model.read_bytes())
    (tmp_path / "outside.gguf").write_bytes(tiny_model.read_bytes())
    token = await provision(runtime, "gpu-n")
    agent = agents(runtime, "gpu-n", token).start()
    await eventually(lambda: registered(runtime, "gpu-n"), timeout=30)
    settings = {"nfs_mount": str(share), "model_dir": str(local), "cleanup_models": True}
    await send(runtime.nc, ChangeAgentSettings(agent_id="gpu-n", settings=settings))

    async def applied() -> bool:  # the agent saves what its control queue brings
        return agent_config.load(agent.home / "agent.yaml").nfs_mount == str(share)

    await eventually(applied, timeout=15)

    test_id = await _request(runtime, "gpu-n", "llama/tiny.gguf")
    test = await test_status(runtime, test_id, "succeeded", "failed")
    assert test.status == "succeeded", test.error
    doc = await finished_run(runtime, test.run_id)
    assert doc.info.model == str(local / "llama" / "tiny.gguf")
    lines = [line.line for line in await _log_lines(runtime, "gpu-n", test_id)]
    assert (
        f"copied the model from {share / 'llama' / 'tiny.gguf'} to {local / 'llama' / 'tiny.gguf'}" in lines
    )
    assert not (local / "llama" / "tiny.gguf").exists()  # cleaned up

    escape = await _request(runtime, "gpu-n", "../outside.gguf")
    refused = await test_status(runtime, escape, "failed")
    assert "outside the share" in refused.error


@pytest.mark.slow  # real engines through restarts; test_a_real_test_on_an_agent_lands_in_karr stays fast
async def test_an_agent_with_capacity_two_runs_two_tests_at_once(runtime, agents, tiny_model, tmp_path):
    suite = tmp_path / "soak.yaml"
    suite.write_text(SHORT_SOAK)
    token = await provision(runtime, "gpu-2")
    agents(runtime, "gpu-2", token, capacity=2).start()
    await eventually(lambda: registered(runtime, "gpu-2"), timeout=30)
    first = await _request(runtime, "gpu-2", tiny_model, suite=str(suite))
    second = await _request(runtime, "gpu-2", tiny_model, suite=str(suite))

    async def both_running():
        tests = [await fleet.test(runtime.engine, t) for t in (first, second)]
        return all(t is not None and t.status == "running" for t in tests)

    await eventually(both_running, timeout=30)
    for test_id in (first, second):
        assert (await test_status(runtime, test_id, "succeeded", "failed", timeout=90)).status == "succeeded"


async def _reports_all_handled(rt: Runtime) -> bool:
    """AGENT_IN is a work queue: a report leaves it once the ingestor has acked it."""
    info = await rt.nc.jetstream().stream_info(streams.AGENT_IN)
    return info.state.messages == 0


async def test_a_report_delivered_twice_is_applied_once(runtime, tiny_model):
    """The same report (same report id) published twice under different message ids, so JetStream's own
    dedup does not catch it: the ingestor's commands carry ids derived from the report, and the second is
    answered as a duplicate without a second event."""
    await provision(runtime, "twice")
    test_id = await _request(runtime, "twice", tiny_model)
    await test_status(runtime, test_id, "dispatched")
    js = runtime.nc.jetstream()
    started = reports.TestStartedReport(test_id=test_id, run_id="run-twice")
    for copy in ("a", "b"):
        await js.publish(f"in.twice.{test_id}", reports.encode(started), headers={"Nats-Msg-Id": copy})
    finished = reports.TestFinishedReport(test_id=test_id, status="failed", run_id="run-twice", error="boom")
    for copy in ("c", "d"):
        await js.publish(f"in.twice.{test_id}", reports.encode(finished), headers={"Nats-Msg-Id": copy})
    test = await test_status(runtime, test_id, "failed")
    assert test.error == "boom"
    await eventually(lambda: _reports_all_handled(runtime), timeout=15)  # the copies too
    stored, _ = await EventBus(runtime.nc).load("test", test_id)
    kinds = [type(s.envelope.event).__name__ for s in stored]
    assert kinds.count("TestStarted") == 1 and kinds.count("TestFinished") == 1
    assert await fleet.refused_reports(runtime.engine) == []  # a duplicate is not an error


def test_provision_by_token_hash_shows_no_token(tmp_path):
    """A token made elsewhere (`kitt stack generate --agent`): provisioned by its SHA-256, nothing shown;
    a malformed hash is refused in one line."""
    from kitt.auth import tokens
    from tests.test_cli import kitt

    home = tmp_path / "home"
    token = tokens.new()
    done = kitt(home, "agents", "provision", "gpu-h", "--token-hash", tokens.digest(token))
    assert "provisioned" in done.stdout and token not in done.stdout
    shown = json.loads(kitt(home, "agents", "show", "gpu-h", "--json").stdout)
    assert shown["agent"]["status"] == "provisioned"
    bad = kitt(home, "agents", "provision", "gpu-i", "--token-hash", "not-a-hash", check=False)
    assert bad.returncode == 1 and "64 lowercase hex digits" in bad.stderr
    again = kitt(home, "agents", "provision", "gpu-h", "--token-hash", tokens.digest(token), check=False)
    assert again.returncode == 1 and "already provisioned" in again.stderr
