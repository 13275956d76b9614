"""What may connect to KITT's NATS and what each principal may do there, against a real nats-server: no
anonymous clients, agents confined to their own subjects (never `ev.>` or `kitt.cmd.>`), revocation decided
from the event log, consumer names that cannot collide, and the shipped nats.conf secure as it stands."""

import asyncio
import os
import ssl
import subprocess
import time
from pathlib import Path

import msgspec
import nats
import nats.errors
import nats.js.errors
import nkeys
import pytest

from kitt.auth import ca, callout, credentials, jwt, permissions, tokens
from kitt.children import free_port
from kitt.commands.client import send
from kitt.commands.messages import RefuseReport, RequestTest, RevokeAgent
from kitt.config import Settings
from kitt.events import reports, streams, subjects
from kitt.events.bus import EventBus
from kitt.events.results import BenchmarkResult, RecordsRef, RunInfo
from kitt.events.types import TestSpec
from kitt.projections.db import normalize_url
from kitt.runtime.embedded import Runtime, RuntimeUnavailable, connect_nats
from kitt.runtime.nats_server import find_binary
from kitt.storage import fleet
from kitt.storage.checkpoints import wait_for_checkpoint
from tests import factories
from tests.agenthosts import RawAgent, provision, test_status, token_owner
from tests.waiting import eventually

REPO = Path(__file__).resolve().parents[1]


async def _stream_exists(nc, name: str) -> bool:
    try:
        await nc.jetstream().stream_info(name)
    except nats.js.errors.NotFoundError:
        return False
    return True


async def _refused(url: str, **kw) -> str:
    with pytest.raises(nats.errors.Error) as caught:
        await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2, **kw)
    return str(caught.value)


async def test_nothing_connects_without_credentials(runtime):
    assert "Authorization Violation" in await _refused(runtime.local_agent_url)
    assert "Authorization Violation" in await _refused(runtime.local_agent_url, user="kitt", password="guess")
    home = runtime.settings.home
    for private in ("auth.json", "network.json", "instance.json", "api-secret"):
        if (home / private).exists():
            assert (home / private).stat().st_mode & 0o777 == 0o600, private
    assert home.stat().st_mode & 0o777 == 0o700
    assert (home / "nats").stat().st_mode & 0o077 == 0
    database = runtime.settings.database_url
    if database.startswith("sqlite"):  # agents' token hashes and settings live there
        assert Path(database.split("///", 1)[1]).stat().st_mode & 0o777 == 0o600


async def test_an_agent_cannot_write_events_or_send_commands(runtime):
    """A stolen agent token must not mint an admin token, forge an event or read the Devon key."""
    token = await provision(runtime, "mallory")
    await eventually(lambda: token_owner(runtime.engine, token), timeout=10)
    agent = await RawAgent().connect(runtime.local_agent_url, token, "mallory")
    forged = RequestTest(spec=TestSpec(model="m", engine="vllm"), agent="mallory", actor="admin")
    await agent.nc.publish("kitt.cmd.request_test", msgspec.json.encode(forged))
    await agent.nc.publish("kitt.cmd.issue_user_token", b'{"name": "evil", "token_hash": "00"}')
    await agent.nc.publish("ev.user.evil.user_token_issued", b"{}")
    await agent.nc.publish("$JS.API.STREAM.DELETE.EVENTS", b"")
    await agent.nc.subscribe("live.ev.>")
    found = await agent.violations(5)
    assert any('publish to "kitt.cmd.request_test"' in e for e in found)
    assert any('publish to "kitt.cmd.issue_user_token"' in e for e in found)
    assert any('publish to "ev.user.evil.user_token_issued"' in e for e in found)
    assert any("stream.delete.events" in e.lower() for e in found)
    assert any('subscription to "live.ev.>"' in e for e in found)
    history, _ = await EventBus(runtime.nc).load("user", "evil")
    assert history == []
    assert await fleet.tests(runtime.engine) == []
    await agent.nc.close()


async def test_an_agent_writes_records_only_under_its_own_name(runtime, tiny_model):
    """Records are written by agents straight to their own records stream: only under their own name (not
    RECORDS, KITT's own), and a result that points at records the agent did not write is refused by the
    ingestor."""
    token = await provision(runtime, "writer")
    await eventually(lambda: token_owner(runtime.engine, token), timeout=10)
    agent = await RawAgent().connect(runtime.local_agent_url, token, "writer")
    js = agent.nc.jetstream()
    own = streams.agent_records_stream("writer")
    await eventually(lambda: _stream_exists(runtime.nc, own), what=f"the dispatcher making {own}")
    stored = await js.publish(subjects.agent_run_records("writer", "run-w", 0), b'{"index": 0}\n')
    assert stored.stream == own
    await agent.nc.publish(subjects.agent_run_records("victim", "run-v", 0), b'{"index": 0}\n')
    await agent.nc.publish(subjects.records("writer", "run-w", 0), b'{"index": 0}\n')
    found = await agent.violations(2)
    assert any('publish to "arec.victim.run-v.0"' in e for e in found), found
    assert any('publish to "rec.writer.run-w.0"' in e for e in found), found
    spec = TestSpec(model=str(tiny_model), engine="llama_cpp", runtime="native")
    test_id = (await send(runtime.nc, RequestTest(spec=spec, agent="writer"))).ids[0]
    await test_status(runtime, test_id, "dispatched")
    for report in (
        reports.TestStartedReport(test_id=test_id, run_id="run-w"),
        reports.RunStartedReport(
            test_id=test_id, run_id="run-w", info=RunInfo(model="m", engine="vllm", started_at=factories.T0)
        ),
    ):
        await js.publish(f"in.writer.{test_id}", reports.encode(report))
    foreign = RecordsRef(
        subject=subjects.agent_run_records("victim", "run-v", 0), count=1, chunks=1, bytes=13, sha256="0" * 64
    )
    result = BenchmarkResult(name="latency", kind="performance", records=foreign)
    their_telemetry = msgspec.structs.replace(foreign, subject=subjects.telemetry(foreign.subject))
    telemetry = BenchmarkResult(name="latency", kind="performance", telemetry_records=their_telemetry)
    for bad in (result, telemetry):
        await js.publish(
            f"in.writer.{test_id}",
            reports.encode(reports.BenchmarkReport(test_id=test_id, run_id="run-w", result=bad)),
        )

    async def both_refused() -> list[tuple[str, str]] | None:
        found = await fleet.refused_reports(runtime.engine)
        return found if len(found) >= 2 else None

    found = await eventually(both_refused, timeout=15)
    assert any("records it did not write (arec.victim.run-v.0)" in reason for _, reason in found), found
    assert any("did not write (arec.victim.run-v.0.telemetry)" in reason for _, reason in found), found
    await agent.nc.close()


async def test_a_report_names_its_agent_by_subject_not_by_payload(runtime, tiny_model):
    """The actor of what an agent reports is the agent NATS authenticated (its subject), whatever it says."""
    await provision(runtime, "honest")
    spec = TestSpec(model=str(tiny_model), engine="llama_cpp", runtime="native")
    test_id = (await send(runtime.nc, RequestTest(spec=spec, agent="honest"))).ids[0]
    await test_status(runtime, test_id, "dispatched")
    started = reports.TestStartedReport(test_id=test_id, run_id="run-h")
    await runtime.nc.jetstream().publish(f"in.honest.{test_id}", reports.encode(started))
    await test_status(runtime, test_id, "running")
    history, _ = await EventBus(runtime.nc).load("test", test_id)
    actors = {s.envelope.type: s.envelope.actor for s in history}
    assert actors["test_started"] == "agent:honest"
    assert actors["test_requested"].startswith("cli:")
    assert actors["test_dispatched"] == "dispatcher"


async def test_a_revoked_agent_cannot_reconnect_even_before_the_read_model_knows(runtime):
    """The agents projector is stopped, so the read model still shows the token live; the callout decides
    from the agent's history in EVENTS and refuses it."""
    token = await provision(runtime, "laptop")
    await eventually(lambda: token_owner(runtime.engine, token), timeout=10)
    agent = await RawAgent().connect(runtime.local_agent_url, token, "laptop")
    [task] = [t for t in runtime._tasks if t.get_name() == "projector:agents"]
    task.cancel()
    await asyncio.wait([task])
    await send(runtime.nc, RevokeAgent(agent_id="laptop", reason="stolen"))
    await asyncio.wait_for(agent.disconnected.wait(), 5)
    assert (await fleet.agent(runtime.engine, "laptop")).status != "revoked"  # the window is open
    assert await token_owner(runtime.engine, token) == "laptop"
    assert "Authorization Violation" in await _refused(runtime.local_agent_url, token=token)
    assert runtime.callout is not None and runtime.callout.refused >= 1
    await agent.nc.close()


def test_the_callout_checks_who_signed_the_request_and_when():
    server = jwt.keypair(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_SERVER))
    server_id = server.public_key.decode()
    claims = {
        "aud": "nats-authorization-request",
        "exp": int(time.time()) + 2,
        "nats": {"server_id": {"id": server_id}, "user_nkey": "UX", "type": "authorization_request"},
    }
    good = jwt.encode(claims, server).encode()
    assert callout.read_request(good).nats.server_id.id == server_id
    other = jwt.keypair(jwt.new_account_seed())  # signed, but not by the server the request names
    with pytest.raises(callout.AuthRequestError, match="not by the server it names"):
        callout.read_request(jwt.encode(claims, other).encode())
    with pytest.raises(callout.AuthRequestError, match="expired"):
        callout.read_request(good, now=time.time() + 120)
    wrong = jwt.encode({**claims, "aud": "something-else"}, server).encode()
    with pytest.raises(callout.AuthRequestError, match="not an authorization request"):
        callout.read_request(wrong)
    with pytest.raises(callout.AuthRequestError):
        callout.read_request(b"not a jwt")


async def test_an_agent_named_like_another_agents_control_queue_gets_its_own(runtime, tiny_model):
    """`x`'s control consumer and `x-control`'s work consumer were once the same name."""
    await provision(runtime, "x")
    await provision(runtime, "x-control")
    js = runtime.nc.jetstream()

    async def made():
        try:
            return [await js.consumer_info(streams.DISPATCH, n) for n in permissions.consumers("x-control")]
        except nats.js.errors.NotFoundError:
            return None

    work, _ = await eventually(made, timeout=10)
    assert work.config.filter_subject == "dispatch.x-control.test"
    x_control = await js.consumer_info(streams.DISPATCH, permissions.consumers("x")[1])
    assert set(x_control.config.filter_subjects) == {"dispatch.x.cancel", "dispatch.x.settings"}
    assert permissions.consumers("x")[1] != permissions.consumers("x-control")[0]
    spec = TestSpec(model=str(tiny_model), engine="llama_cpp", runtime="native")
    test_id = (await send(runtime.nc, RequestTest(spec=spec, agent="x-control"))).ids[0]
    await test_status(runtime, test_id, "dispatched")
    queue = await js.pull_subscribe_bind(work.name, stream=streams.DISPATCH)
    [msg] = await queue.fetch(1, timeout=5)
    assert msg.subject == "dispatch.x-control.test"


async def test_a_refused_report_is_one_dead_letter_however_often_it_comes(runtime):
    """The ingestor records a refusal as an event; the agents projector writes its dead letter once."""
    await provision(runtime, "noisy")
    await runtime.nc.jetstream().publish("in.noisy.agent", b"{not json")
    found = await eventually(lambda: fleet.refused_reports(runtime.engine), timeout=15)
    assert [subject for subject, _ in found] == [f"in.noisy.{streams.REPORTS_QUEUE}"]
    # The same refusal again, as after a crash between recording it and acking the report:
    again = RefuseReport(
        agent="noisy", subject="in.noisy.queued", stream_seq=1, reason="again", size=9, sha256="0" * 64
    )
    reply = await send(runtime.nc, again)
    assert await wait_for_checkpoint(runtime.engine, "agents", reply.seq)
    assert len(await fleet.refused_reports(runtime.engine)) == 1
    history, _ = await EventBus(runtime.nc).load("agent", "noisy")
    assert next(s.envelope.actor for s in history if s.envelope.type == "report_refused") == "ingestor"


async def test_a_malformed_event_does_not_stop_the_dispatcher(runtime, tiny_model):
    await runtime.nc.publish("ev.test.bogus.test_requested", b"{broken")  # straight in, as a bug might
    await runtime.nc.jetstream().publish("ev.test.bogus2.test_requested", b'{"type": "nope"}')
    await provision(runtime, "steady")
    spec = TestSpec(model=str(tiny_model), engine="llama_cpp", runtime="native")
    test_id = (await send(runtime.nc, RequestTest(spec=spec, agent="steady"))).ids[0]
    assert (await test_status(runtime, test_id, "dispatched")).agent == "steady"


async def test_connection_errors_never_show_a_password():
    with pytest.raises(RuntimeUnavailable) as caught:
        await connect_nats("nats://kitt:hunter2-secret@127.0.0.1:9")
    assert "hunter2" not in str(caught.value) and "127.0.0.1:9" in str(caught.value)


def _nats_env(home: Path) -> dict[str, str]:
    creds = credentials.load_or_create(home / "auth.json")
    pair = ca.issue(home, "nats", ["127.0.0.1", "localhost"])
    return {
        **credentials.environment(creds),
        "KITT_NATS_TLS_CERT": str(pair.cert),
        "KITT_NATS_TLS_KEY": str(pair.key),
    }


async def test_the_shipped_nats_conf_is_secure_as_it_stands(tmp_path, database_url):
    """Without its variables nats.conf refuses to start; with them it serves TLS only, refuses anonymous
    clients, and `kitt serve`'s runtime answers agents through the callout (distributed mode)."""
    config = (REPO / "nats.conf").read_text()
    port = free_port()
    config = config.replace("0.0.0.0:4222", f"127.0.0.1:{port}").replace(
        "/var/lib/kitt/nats", str(tmp_path / "js")
    )
    config = config.replace("http: 127.0.0.1:8222", "")
    conf = tmp_path / "nats.conf"
    conf.write_text(config)
    bare = {k: v for k, v in os.environ.items() if not k.startswith("KITT_NATS")}
    check = await asyncio.to_thread(
        subprocess.run, [find_binary(), "-c", str(conf), "-t"], env=bare, capture_output=True, text=True
    )
    assert check.returncode != 0 and "KITT_NATS_TLS_CERT" in check.stdout + check.stderr
    home = tmp_path / "home"
    env = _nats_env(home)
    server = await asyncio.to_thread(
        subprocess.Popen, [find_binary(), "-c", str(conf)], env={**bare, **env}, stderr=subprocess.DEVNULL
    )
    try:
        url = f"tls://127.0.0.1:{port}"
        cafile = str(home / "tls" / "ca.crt")
        await eventually(lambda: _listening(port), timeout=10)
        tls = ssl.create_default_context(cafile=cafile)
        settings = Settings(
            home=tmp_path / "serve-home",
            nats_url=credentials.url_with(url, "kitt", env["KITT_NATS_PASSWORD"]),
            database_url=normalize_url(database_url),
            nats_tls_ca=cafile,
            callout=(
                env["KITT_NATS_AUTH_PASSWORD"],
                env["KITT_NATS_SYS_PASSWORD"],
                env["KITT_NATS_ISSUER_SEED"],
            ),
        )
        rt = Runtime(settings)
        await rt.start()
        try:
            assert rt.agent_url == url  # no password in what agents are given
            assert "Authorization Violation" in await _refused(url, tls=tls)
            assert "Authorization Violation" in await _refused(url, tls=tls, token=tokens.new())
            token = await provision(rt, "remote")
            await eventually(lambda: token_owner(rt.engine, token), timeout=10)
            agent = await nats.connect(
                url,
                token=token,
                tls=tls,
                allow_reconnect=False,
                inbox_prefix=permissions.inbox_prefix("remote"),
            )
            ack = await agent.jetstream().publish("hb.remote", b"{}")
            assert ack.stream == streams.HB
            await agent.close()
        finally:
            await rt.stop()
    finally:
        server.terminate()
        server.wait(10)


async def _listening(port: int) -> bool:
    try:
        _r, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True
