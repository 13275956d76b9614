"""Bearer-token auth: with KITT_AUTH_TOKEN set, every route needs `Authorization: Bearer <token>`."""

import hmac

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from sqlalchemy import select

from kitt.agent import tokens
from kitt.api.context import ApiContext
from kitt.projections.models import AgentRow

AGENT_ROUTES = "/api/v1/agent/"  # the install script and package: an agent's own token opens them too


async def require_token(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    context: ApiContext = connection.app.state.kitt
    if context.auth_token is None:
        return
    scheme, _, presented = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(presented.encode(), context.auth_token.encode()):
        return
    if scheme.lower() == "bearer" and connection.url.path.startswith(AGENT_ROUTES):
        if await _live_agent_token(context, presented):
            return
    raise NotAuthorizedException("a valid bearer token is required (KITT_AUTH_TOKEN)")


async def _live_agent_token(context: ApiContext, presented: str) -> bool:
    try:
        digest = tokens.digest(presented)
    except tokens.TokenFormatError:
        return False
    table = AgentRow.__table__
    async with context.db.connect() as conn:
        query = (
            select(table.c.agent_id).where(table.c.token_hash == digest).where(table.c.status != "revoked")
        )
        return (await conn.execute(query)).first() is not None
