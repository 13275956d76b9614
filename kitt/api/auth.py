"""Who is asking, and may they: principals, roles, and the checks every request passes first.

Every route but the login page and static files needs a principal — a bearer token or the browser's
session cookie; nothing is answered anonymously. The tokens: KITT_AUTH_TOKEN (the `admin`); without it,
the local owner's token from KITT_HOME/api-token, a 0600 file only the user who owns KITT_HOME can read
(`local`, an admin: kitt/auth/localtoken.py); a user's token, with its role. Roles: an admin may do
everything; a viewer reads everything and changes nothing (every write answers 403). The cookie opens pages
and reads only: writes through `/api/` need a bearer token (a browser's cookie rides along on a forged
cross-site request; a bearer header never does), and the UI's own forms post to UI routes that check the
session's CSRF token. An agent's token opens only `/api/v1/agent/*` reads (its install script and package).

Without KITT_AUTH_TOKEN (loopback only: `kitt up` refuses another --host then) the browser is also kept
out of reach of other sites: the Host header must name this machine (or the configured public URL), a
write's Origin must be this site (but for the login form, which `kitt web` posts from a local file), and
API writes must be JSON, which a cross-site form or simple request cannot send.

Every command the API sends carries the principal as its actor (`admin`, `user:NAME`, `local`); nothing a
client sends can set it.
"""

import hmac
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes, urlsplit

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
)
from litestar.handlers.base import BaseRouteHandler

from kitt.api.context import ApiContext
from kitt.api.session import COOKIE, Session, Signer, token_hash
from kitt.auth import tokens
from kitt.events.states import Role
from kitt.storage import fleet, users

AGENT_ROUTES = "/api/v1/agent/"
ADMIN = "admin"
LOCAL = "local"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
BEARER_NEEDED = (
    "a valid bearer token is required (KITT_AUTH_TOKEN, a user token, or, without KITT_AUTH_TOKEN, "
    "the owner's KITT_HOME/api-token)"
)


class UnsupportedMediaType(HTTPException):
    status_code = 415


@dataclass(frozen=True)
class Principal:
    """Set on `connection.state.user`: who, with which role, and the session when the cookie vouched."""

    name: str
    role: Role | None  # None: an agent (its own routes only)
    session: Session | None = None
    kind: str = "user"  # admin (KITT_AUTH_TOKEN) | user | local (KITT_HOME's owner) | agent
    bearer: bool = False  # vouched for by an Authorization header (which no cross-site form can carry)

    @property
    def actor(self) -> str:
        """What events record as who did it."""
        return self.name if self.kind in ("admin", "local") else f"{self.kind}:{self.name}"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _same(presented: str, secret: str | None) -> bool:
    return bool(secret) and hmac.compare_digest(presented.encode(), str(secret).encode())


async def token_principal(context: ApiContext, presented: str) -> Principal | None:
    """The principal a bearer token stands for: the admin for KITT_AUTH_TOKEN, the owner for the local
    token, else a live user token's."""
    if _same(presented, context.auth_token):
        return Principal(ADMIN, "admin", kind="admin", bearer=True)
    if _same(presented, context.local_token):
        return Principal(LOCAL, "admin", kind="local", bearer=True)
    if presented.startswith(users.PREFIX):
        found = await users.owner(context.db, presented)
        if found is not None:
            return Principal(found[0], found[1], bearer=True)
    return None


async def session_principal(context: ApiContext, signer: Signer, session: Session | None) -> Principal | None:
    """A session counts while it was not logged out and the token it was opened with is still live."""
    if session is None or await users.session_ended(context.db, session.sid):
        return None
    for name, secret in ((ADMIN, context.auth_token), (LOCAL, context.local_token)):
        if session.user == name:
            live = signer.tag(token_hash(secret)) if secret else None
            if live is None or not hmac.compare_digest(session.tok, live):
                return None  # that token was rotated (or is not this server's): the session ended with it
            return Principal(name, "admin", session, kind=name)
    found = await users.live_token(context.db, session.user)
    if found is None or not hmac.compare_digest(session.tok, signer.tag(found[0])):
        return None
    return Principal(session.user, found[1], session)


def _method(connection: ASGIConnection) -> str:
    return connection.method if isinstance(connection, Request) else "GET"  # a websocket: a read


def _host_name(value: str) -> str:
    return (urlsplit(f"//{value}").hostname or "").lower()


def check_host(connection: ASGIConnection, context: ApiContext, *, login: bool = False) -> None:
    """Without KITT_AUTH_TOKEN: a page reached through another name (DNS rebinding) or written from another
    site is refused before it can read or change anything. The login form is the one write that may come
    from elsewhere (`kitt web` posts it from a local file): it changes nothing without the token."""
    host = _host_name(connection.headers.get("host", ""))
    allowed = LOOPBACK_HOSTS | context.public_hosts
    if host not in allowed:
        raise PermissionDeniedException(
            f"Host {host or '(none)'!r} is not this server: with KITT_AUTH_TOKEN unset KITT answers only "
            "to localhost (or its --public-url)"
        )
    if _method(connection) in SAFE_METHODS or login:
        return
    origin = connection.headers.get("origin")
    site = connection.headers.get("sec-fetch-site")
    if (origin is not None and _host_name(urlsplit(origin).netloc) not in allowed) or site == "cross-site":
        raise PermissionDeniedException("a write from another site is refused")


def check_json_write(connection: ASGIConnection) -> None:
    """API writes are JSON: a cross-site form or `text/plain` request cannot send it without permission."""
    if _method(connection) not in BODY_METHODS or not connection.url.path.startswith("/api/"):
        return  # DELETE (and the rest) cannot be sent cross-site without the browser asking first
    media = connection.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise UnsupportedMediaType(
            detail="API writes take Content-Type: application/json (send `{}` when there is no body)"
        )


async def _resolve(connection: ASGIConnection, context: ApiContext, signer: Signer) -> Principal:
    session: Session | None = connection.state.session
    scheme, _, presented = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and presented:
        found = await token_principal(context, presented)
        if found is not None:
            return found
        agent_route = connection.url.path.startswith(AGENT_ROUTES)
        if agent_route and _method(connection) in SAFE_METHODS:
            agent = await fleet.agent_for_token_hash(context.db, tokens.digest_or_none(presented))
            if agent is not None:
                return Principal(agent, None, kind="agent", bearer=True)
        raise NotAuthorizedException(BEARER_NEEDED)
    found = await session_principal(context, signer, session)
    writes_api = connection.url.path.startswith("/api/") and _method(connection) not in SAFE_METHODS
    if found is None or writes_api:
        raise NotAuthorizedException(BEARER_NEEDED)
    return found


async def require_principal(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    query = unquote_to_bytes(connection.scope.get("query_string", b""))
    if "\x00" in connection.scope["path"] or b"\x00" in query:
        raise ClientException("a NUL character (%00) in the path or query is not accepted")
    context: ApiContext = connection.app.state.kitt
    signer: Signer = connection.app.state.signer
    connection.state.session = signer.read(connection.cookies.get(COOKIE))
    if context.auth_token is None:
        check_host(connection, context, login=bool(handler.opt.get("login")))
    if handler.opt.get("public"):
        return
    principal = await _resolve(connection, context, signer)
    connection.state.user = principal
    check_json_write(connection)
    writes = _method(connection) not in SAFE_METHODS
    if writes and not handler.opt.get("any_role") and not principal.is_admin:
        raise PermissionDeniedException(f"{principal.actor} may read, not change anything (a viewer token)")


def require_admin(principal: Principal) -> None:
    """For reads that change something or hand out a secret (install.sh provisions an agent)."""
    if not principal.is_admin:
        raise PermissionDeniedException(f"{principal.actor} may not do this: it needs an admin token")
