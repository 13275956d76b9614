"""The auth-callout service: NATS asks it about every agent connection; it answers with a short-lived JWT.

nats-server sends an authorization request (a JWT it signed) on `$SYS.REQ.USER.AUTH` in the AUTH account.
The request must be signed by the server it names and not have expired. The service then checks the token
the client presented: the agents read model says whose it may be, and the agent's own history in EVENTS
decides — its SHA-256 must be the agent's current hash and the agent not revoked. Deciding from the event
log closes the window in which the read model has not yet applied a revocation. The answer is a user JWT
for the KITT account, valid for `ttl_s`, that allows only that agent's subjects and consumers (see
`permissions.py`), signed by the issuer key the server trusts. A refusal names no agent. Services run on a
queue group, so two can answer.

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

from kitt.auth import jwt, permissions, tokens
from kitt.events import codec, subjects, types
from kitt.events.bus import EventBus
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
        self.bus = EventBus(kitt_nc)
        self.ttl_s = ttl_s
        self.allowed = 0
        self.refused = 0

    async def start(self) -> None:
        await self.auth_nc.subscribe(AUTH_SUBJECT, queue=QUEUE, cb=self._answer)
        for gone in ("agent_revoked", "agent_token_rotated"):
            await self.kitt_nc.subscribe(subjects.live_of_type("agent", gone), cb=self._kick_agent)

    async def admit(self, token: str | None) -> str | None:
        """The agent whose live token this is, decided from its history in EVENTS; None to refuse."""
        candidate = await fleet.agent_for_token_hash(self.db, tokens.digest_or_none(token))
        if candidate is None or token is None:
            return None
        stored, _ = await self.bus.load("agent", candidate)
        live = live_token_hash([s.envelope.event for s in stored])
        return candidate if live is not None and live == tokens.digest(token) else None

    async def _answer(self, msg: Msg) -> None:
        try:
            request = read_request(msg.data)
        except AuthRequestError as exc:
            log.warning("auth.bad_request", error=str(exc))
            return
        claims = request.nats
        try:
            agent = await self.admit(claims.connect_opts.auth_token)
        except Exception:  # NATS or the database blipped: refuse now, the agent retries
            log.exception("auth.lookup_failed")
            agent = None
        response: dict[str, object] = {"sub": claims.user_nkey, "aud": claims.server_id.id}
        if agent is None:
            self.refused += 1
            response["nats"] = {"error": "unknown, malformed or revoked agent token", **_RESPONSE}
            log.info("auth.refused", client=claims.client_info.host)
        else:
            self.allowed += 1
            response["nats"] = {"jwt": self._user_jwt(claims.user_nkey, agent), **_RESPONSE}
            log.info("auth.allowed", agent=agent)
        await msg.respond(jwt.encode(response, self.issuer).encode())

    def _user_jwt(self, user_nkey: str, agent: str) -> str:
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
        return jwt.encode(user, self.issuer)

    async def _kick_agent(self, msg: Msg) -> None:
        with contextlib.suppress(Exception):
            agent = codec.decode(msg.data, msg.headers).aggregate_id
            await kick(self.sys_nc, agent)


_RESPONSE = {"type": "authorization_response", "version": 2}
CLOCK_SKEW_S = 30


class AuthRequestError(ValueError):
    pass


class _ServerId(msgspec.Struct):
    id: str


class _ConnectOpts(msgspec.Struct):
    auth_token: str | None = None


class _ClientInfo(msgspec.Struct):
    host: str | None = None


class _RequestClaims(msgspec.Struct):
    server_id: _ServerId
    user_nkey: str
    type: str
    connect_opts: _ConnectOpts = msgspec.field(default_factory=_ConnectOpts)
    client_info: _ClientInfo = msgspec.field(default_factory=_ClientInfo)


class AuthRequest(msgspec.Struct):
    iss: str
    aud: str
    nats: _RequestClaims
    exp: int | None = None
    iat: int = 0


def read_request(data: bytes, *, now: float | None = None) -> AuthRequest:
    """An authorization request, once it is shown to come from the server it names and to be current."""
    try:
        request = msgspec.convert(jwt.decode(data.decode()), AuthRequest)
    except (jwt.JwtError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise AuthRequestError(f"not an authorization request: {exc}") from None
    now = time.time() if now is None else now
    if request.aud != "nats-authorization-request" or request.nats.type != "authorization_request":
        raise AuthRequestError(f"not an authorization request (aud {request.aud!r})")
    if not request.iss.startswith("N") or request.iss != request.nats.server_id.id:
        raise AuthRequestError(f"signed by {request.iss!r}, not by the server it names")
    if request.exp is not None and request.exp + CLOCK_SKEW_S < now:
        raise AuthRequestError(f"expired {now - request.exp:.0f} s ago")
    if request.iat > now + CLOCK_SKEW_S:
        raise AuthRequestError("issued in the future")
    return request


def live_token_hash(history: list[types.Event]) -> str | None:
    """The agent's current token hash from its history, or None when it is revoked or unknown."""
    live: str | None = None
    for event in history:
        if isinstance(event, types.AgentProvisioned):
            live = event.token_hash
        elif isinstance(event, types.AgentTokenRotated):
            live = event.token_hash if live is not None else None
        elif isinstance(event, types.AgentRevoked):
            live = None
    return live


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
