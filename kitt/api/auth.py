"""Bearer-token auth: with KITT_AUTH_TOKEN set, every route needs `Authorization: Bearer <token>`."""

import hmac

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

from kitt.api.context import ApiContext


def require_token(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    context: ApiContext = connection.app.state.kitt
    if context.auth_token is None:
        return
    scheme, _, presented = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.encode(), context.auth_token.encode()):
        raise NotAuthorizedException("a valid bearer token is required (KITT_AUTH_TOKEN)")
