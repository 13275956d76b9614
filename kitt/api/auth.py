"""Who is asking: with KITT_AUTH_TOKEN set, every route but the login page and static files needs a
principal — a bearer token (KITT_AUTH_TOKEN or a user's token) or the browser's session cookie.

The cookie opens pages and reads only: writes through `/api/` need a bearer token (a browser's cookie rides
along on a forged cross-site request; a bearer header never does), and the UI's own forms post to UI routes
that check the session's CSRF token. An agent's token opens only `/api/v1/agent/*` (its install script and
package).
"""

import hmac
from urllib.parse import unquote_to_bytes

from litestar.connection import ASGIConnection
from litestar.exceptions import ClientException, NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

from kitt.api.context import ApiContext
from kitt.api.session import COOKIE, Session, Signer, token_tag
from kitt.storage import fleet, users

AGENT_ROUTES = "/api/v1/agent/"
ADMIN = "admin"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Principal:
    """Set on `connection.state.user`: the user's name, and the session when the cookie vouched for it."""

    def __init__(self, name: str, session: Session | None = None) -> None:
        self.name = name
        self.session = session


async def token_user(context: ApiContext, presented: str) -> str | None:
    """The user a bearer token belongs to: `admin` for KITT_AUTH_TOKEN, else a live user token's owner."""
    if context.auth_token and hmac.compare_digest(presented.encode(), context.auth_token.encode()):
        return ADMIN
    if presented.startswith(users.PREFIX):
        return await users.owner(context.db, presented)
    return None


async def session_user(context: ApiContext, session: Session | None) -> str | None:
    """A session counts while the token it was opened with is still live."""
    if session is None:
        return None
    if context.auth_token is None:
        return session.user
    if session.user == ADMIN:
        return ADMIN if hmac.compare_digest(session.tok, token_tag(context.auth_token)) else None
    live = await users.tag(context.db, session.user)
    return session.user if live is not None and hmac.compare_digest(session.tok, live) else None


async def require_principal(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    query = unquote_to_bytes(connection.scope.get("query_string", b""))
    if "\x00" in connection.scope["path"] or b"\x00" in query:
        raise ClientException("a NUL character (%00) in the path or query is not accepted")
    context: ApiContext = connection.app.state.kitt
    signer: Signer = connection.app.state.signer
    session = signer.read(connection.cookies.get(COOKIE))
    connection.state.session = session
    if handler.opt.get("public"):
        return
    if context.auth_token is None:
        connection.state.user = Principal(session.user if session else "anonymous", session)
        return
    scheme, _, presented = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and presented:
        user = await token_user(context, presented)
        if user is not None:
            connection.state.user = Principal(user)
            return
        agent_route = connection.url.path.startswith(AGENT_ROUTES)
        if agent_route and await fleet.agent_for_token(context.db, presented):
            connection.state.user = Principal("agent")
            return
        raise NotAuthorizedException("a valid bearer token is required (KITT_AUTH_TOKEN or a user token)")
    user = await session_user(context, session)
    writes_api = connection.url.path.startswith("/api/") and connection.scope["method"] not in SAFE_METHODS
    if user is not None and not writes_api:
        connection.state.user = Principal(user, session)
        return
    raise NotAuthorizedException("a valid bearer token is required (KITT_AUTH_TOKEN or a user token)")
