"""Agent credentials through KITT's auth callout, against a real nats-server: each agent gets in with its own
token only, and can touch only its own subjects and consumers. Permission violations arrive on the
client's error callback (NATS does not raise them), so the tests collect them there."""

import asyncio
import ssl
import subprocess
import time
from pathlib import Path

import nats
import nats.errors
import pytest
from nats.js.api import DeliverPolicy

from kitt.auth import jwt, permissions, tokens
from kitt.commands.client import send
from kitt.commands.messages import RequestTest, RevokeAgent, RotateAgentToken
from kitt.events import reports, streams
from kitt.events.types import TestSpec
from kitt.runtime.embedded import Runtime
from kitt.storage.checkpoints import wait_for_checkpoint
from tests.agenthosts import RawAgent, provision, registered, settings_for, token_owner
from tests.waiting import eventually


async def _refused(url: str, token: str) -> str:
    with pytest.raises(nats.errors.Error) as caught:
        await nats.connect(
            url, token=token, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2
        )
    return str(caught.value)


async def _settled(rt, seq: int) -> None:
    assert await wait_for_checkpoint(rt.engine, "agents", seq)


async def test_an_agent_reaches_only_its_own_subjects_and_consumer(runtime):
    token_a = await provision(runtime, "alpha")
    token_b = await provision(runtime, "beta")
    await eventually(lambda: token_owner(runtime.engine, token_a), timeout=10)
    await eventually(lambda: token_owner(runtime.engine, token_b), timeout=10)
    spec = TestSpec(model="/models/m.gguf", engine="llama_cpp", runtime="native")
    await send(runtime.nc, RequestTest(spec=spec, agent="alpha"))
    a = await RawAgent().connect(runtime.agent_url, token_a, "alpha")
    js = a.nc.jetstream()

    # Its own: report, heartbeat, and its queued test through its own consumer.
    ack = await js.publish("in.alpha.agent", reports.encode(reports.Registered()))
    assert ack.stream == streams.AGENT_IN
    await js.publish("hb.alpha", b"{}")
    await eventually(lambda: _consumer_ready(runtime, "alpha"), timeout=10)
    work, _ = permissions.consumers("alpha")
    mine = await js.pull_subscribe_bind(work, stream=streams.DISPATCH)
    [queued] = await mine.fetch(1, timeout=5)
    assert queued.subject == "dispatch.alpha.test"
    await queued.ack()

    # Not its own: publishing as beta, beta's consumer, reading EVENTS.
    await a.nc.publish("in.beta.agent", b"{}")
    await a.nc.publish("log.beta.t1", b"x")
    theirs = await js.pull_subscribe_bind(permissions.consumers("beta")[0], stream=streams.DISPATCH)
    with pytest.raises((nats.errors.TimeoutError, TimeoutError)):
        await theirs.fetch(1, timeout=1)
    await a.nc.subscribe("ev.>")
    with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError, nats.js.errors.Error)):
        await js.subscribe("ev.>", deliver_policy=DeliverPolicy.ALL)
    found = await a.violations(4)
    assert any('publish to "in.beta.agent"' in e for e in found)
    assert any('publish to "log.beta.t1"' in e for e in found)
    assert any("msg.next.dispatch.agent-work-beta" in e.lower() for e in found), found
    assert any('subscription to "ev.>"' in e for e in found)
    assert a.nc.is_connected
    await a.nc.close()


async def _consumer_ready(rt, agent: str) -> bool:
    try:
        await rt.nc.jetstream().consumer_info(streams.DISPATCH, permissions.consumers(agent)[0])
        return True
    except nats.js.errors.NotFoundError:
        return False


async def test_bad_tokens_are_refused(runtime):
    await provision(runtime, "gamma")
    assert "Authorization Violation" in await _refused(
        runtime.agent_url, tokens.new()
    )  # well formed, unknown
    assert "Authorization Violation" in await _refused(runtime.agent_url, "not-a-kitt-token")
    assert "Authorization Violation" in await _refused(runtime.agent_url, "")


async def test_revoke_disconnects_at_once_and_rotate_works_at_once(runtime):
    token = await provision(runtime, "delta")
    await eventually(lambda: token_owner(runtime.engine, token), timeout=10)
    agent = await RawAgent().connect(runtime.agent_url, token, "delta")
    other_token = await provision(runtime, "epsilon")
    await eventually(lambda: token_owner(runtime.engine, other_token), timeout=10)

    reply = await send(runtime.nc, RevokeAgent(agent_id="delta", reason="stolen laptop"))
    revoked_at = time.monotonic()
    await asyncio.wait_for(agent.disconnected.wait(), 5)
    assert time.monotonic() - revoked_at < 1.0
    await _settled(runtime, reply.seq)

    async def refused_again() -> bool:  # it keeps trying to reconnect; each try is refused
        return any("Authorization Violation" in e for e in agent.errors)

    await eventually(refused_again, timeout=10)
    assert not agent.nc.is_connected
    await agent.nc.close()
    assert "Authorization Violation" in await _refused(runtime.agent_url, token)

    rotated = tokens.new()
    reply = await send(runtime.nc, RotateAgentToken(agent_id="epsilon", token_hash=tokens.digest(rotated)))
    await _settled(runtime, reply.seq)
    fresh = await RawAgent().connect(runtime.agent_url, rotated, "epsilon")
    assert fresh.nc.is_connected
    await fresh.nc.close()
    assert "Authorization Violation" in await _refused(runtime.agent_url, other_token)


def test_jwts_are_signed_and_checked():
    issuer = jwt.keypair(jwt.new_account_seed())
    token = jwt.encode({"sub": "UABC", "nats": {"type": "user"}}, issuer)
    assert jwt.decode(token)["iss"] == issuer.public_key.decode()
    head, _payload, signature = token.split(".")
    forged = jwt.encode({"sub": "UEVIL", "nats": {"type": "user"}}, jwt.keypair(jwt.new_account_seed()))
    with pytest.raises(jwt.JwtError, match="bad JWT signature"):
        jwt.decode(f"{head}.{forged.split('.')[1]}.{signature}")
    with pytest.raises(jwt.JwtError, match="not a JWT"):
        jwt.decode("abc")


def _self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=kitt-test",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
async def tls_runtime(database_url: str, tmp_path: Path):
    cert, key = _self_signed(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    settings = settings_for(database_url, home, nats_tls_cert=str(cert), nats_tls_key=str(key))
    rt = Runtime(settings)
    await rt.start()
    yield rt, cert
    await rt.stop()


async def test_agents_connect_over_tls_with_a_self_signed_pair(tls_runtime, agents):
    rt, cert = tls_runtime
    assert rt.agent_url.startswith("tls://127.0.0.1:")
    token = await provision(rt, "tls-agent")
    agent = agents(rt, "tls-agent", token, tls_ca=cert).start()
    found = await eventually(lambda: registered(rt, "tls-agent"), timeout=30)
    assert found.status == "registered"
    with pytest.raises((ssl.SSLError, nats.errors.Error, OSError)):  # no CA given: the pair is not trusted
        await nats.connect(
            rt.agent_url,
            token=token,
            tls=ssl.create_default_context(),
            allow_reconnect=False,
            max_reconnect_attempts=0,
            connect_timeout=2,
        )
    assert "agent.stopped" in agent.stop()
