"""The auth-callout service: NATS asks it about every agent connection; it answers with a short-lived JWT.

nats-server sends an authorization request (a JWT it signed) on `$SYS.REQ.USER.AUTH` in the AUTH account.
The service checks the token the client presented: its SHA-256 must be the current hash of an agent that
is not revoked (the agents projection). The answer is a user JWT for the KITT account, valid for `ttl_s`,
that allows only that agent's subjects and consumers (see `permissions.py`), signed by the issuer key the
server trusts. A refusal names no agent. Services run on a queue group, so two can answer.

It also watches for revoked and rotated agents and kicks their live connections through the system
account, so a revocation takes effect within a second rather than when the JWT expires.
"""

import asyncio
import contextlib
import json
import time

import msgspec
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from sqlalchemy.ext.asyncio import AsyncEngine

from kitt.auth import jwt, permissions
from kitt.events import codec
from kitt.storage import fleet

log = structlog.get_logger(__name__)
AUTH_SUBJECT = "$SYS.REQ.USER.AUTH"
QUEUE = "kitt-auth"
ACCOUNT = "KITT"
DEFAULT_TTL_S = 300


class CalloutService:
    def __init__(
        self,
        auth_nc: Client,
        sys_nc: Client,
        kitt_nc: Client,
        db: AsyncEngine,
        issuer_seed: str,
        *,
        ttl_s: int = DEFAULT_TTL_S,
    ) -> None:
        self.auth_nc = auth_nc
        self.sys_nc = sys_nc
        self.kitt_nc = kitt_nc
        self.db = db
        self.issuer = jwt.keypair(issuer_seed.encode())
        self.ttl_s = ttl_s
        self.allowed = 0
        self.refused = 0

    async def start(self) -> None:
        await self.auth_nc.subscribe(AUTH_SUBJECT, queue=QUEUE, cb=self._answer)
        await self.kitt_nc.subscribe("live.ev.agent.*.agent_revoked", cb=self._kick_agent)
        await self.kitt_nc.subscribe("live.ev.agent.*.agent_token_rotated", cb=self._kick_agent)

    async def _agent_for(self, token: str | None) -> str | None:
        return await fleet.agent_for_token(self.db, token)

    async def _answer(self, msg: Msg) -> None:
        try:
            request = jwt.decode(msg.data.decode())
            claims = request["nats"]
            user_nkey = claims["user_nkey"]
            server_id = claims["server_id"]["id"]
            token = (claims.get("connect_opts") or {}).get("auth_token")
        except (jwt.JwtError, KeyError, TypeError, UnicodeDecodeError) as exc:
            log.warning("auth.malformed_request", error=str(exc))
            return
        agent = await self._agent_for(token)
        response: dict[str, object] = {"sub": user_nkey, "aud": server_id}
        if agent is None:
            self.refused += 1
            response["nats"] = {"error": "unknown, malformed or revoked agent token", **_RESPONSE}
            log.info("auth.refused", client=(claims.get("client_info") or {}).get("host"))
        else:
            self.allowed += 1
            user = {
                "sub": user_nkey,
                "aud": ACCOUNT,
                "name": agent,
                "exp": int(time.time()) + self.ttl_s,
                "nats": {
                    **permissions.agent_permissions(agent),
                    "subs": -1,
                    "data": -1,
                    "payload": -1,
                    "type": "user",
                    "version": 2,
                },
            }
            response["nats"] = {"jwt": jwt.encode(user, self.issuer), **_RESPONSE}
            log.info("auth.allowed", agent=agent)
        await msg.respond(jwt.encode(response, self.issuer).encode())

    async def _kick_agent(self, msg: Msg) -> None:
        with contextlib.suppress(Exception):
            agent = codec.decode(msg.data, msg.headers).aggregate_id
            await kick(self.sys_nc, agent)


_RESPONSE = {"type": "authorization_response", "version": 2}


class _Conn(msgspec.Struct):
    cid: int
    account: str = ""
    authorized_user: str = ""  # for a callout user: the `name` of the JWT KITT issued, the agent


async def kick(sys_nc: Client, agent: str) -> int:
    """Disconnect every live connection of `agent` on every server; returns how many were kicked."""
    inbox = sys_nc.new_inbox()
    replies: list[bytes] = []

    async def collect(reply: Msg) -> None:
        replies.append(reply.data)

    sub = await sys_nc.subscribe(inbox, cb=collect)
    await sys_nc.publish(
        "$SYS.REQ.SERVER.PING.CONNZ", json.dumps({"auth": True, "limit": 4096}).encode(), reply=inbox
    )
    await asyncio.sleep(0.25)  # every server answers; one is enough here, more in a cluster
    await sub.unsubscribe()
    kicked = 0
    for raw in replies:
        answer = json.loads(raw)
        server_id = answer.get("server", {}).get("id")
        for conn in msgspec.convert(answer.get("data", {}).get("connections") or [], list[_Conn]):
            if conn.account == ACCOUNT and conn.authorized_user == agent:
                await sys_nc.request(
                    f"$SYS.REQ.SERVER.{server_id}.KICK", json.dumps({"cid": conn.cid}).encode(), timeout=2
                )
                kicked += 1
    log.info("auth.kicked", agent=agent, connections=kicked)
    return kicked
