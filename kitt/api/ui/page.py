"""Rendering a page and checking a form: the session cookie, its CSRF token, what every page shows."""

from litestar import Request
from litestar.datastructures import Cookie
from litestar.exceptions import PermissionDeniedException
from litestar.response import Template

from kitt.api.context import ApiContext
from kitt.api.session import COOKIE, CSRF_FIELD, LIFETIME_S, Session, Signer
from kitt.storage import settings as stored_settings


def session_cookie(request: Request, value: str) -> Cookie:
    return Cookie(
        key=COOKIE,
        value=value,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=LIFETIME_S,
    )


async def devon_tab(context: ApiContext) -> object:
    return await stored_settings.get(context.db, "devon_tab_visible")


async def page(request: Request, template: str, **values: object) -> Template:
    context: ApiContext = request.app.state.kitt
    signer: Signer = request.app.state.signer
    session: Session | None = request.state.get("session")
    user = request.state.get("user")
    cache = request.app.state.cache
    visible = await cache.get("settings", "devon_tab_visible", lambda: devon_tab(context))
    values |= {
        "csrf_field": CSRF_FIELD,
        "csrf_token": signer.csrf(session) if session else "",
        "user": user.name if user is not None else None,
        "role": user.role if user is not None else None,
        "auth_on": context.auth_token is not None,
        "local_mode": context.auth_token is None,  # the owner's token from KITT_HOME/api-token
        "devon_tab": bool(visible) if visible is not None else False,
        "path": request.url.path,
    }
    return Template(template_name=template, context=values)


async def form(request: Request) -> dict[str, str]:
    """A posted form, once its CSRF token checks out (a bearer-token client needs none: no ambient cookie)."""
    data = await request.form()
    values = {key: str(value) for key, value in data.items()}
    user = request.state.get("user")
    signer: Signer = request.app.state.signer
    if user is not None and user.bearer:
        return values  # authenticated by a bearer header, which a forged cross-site form cannot carry
    if not signer.check_csrf(request.state.get("session"), values.get(CSRF_FIELD)):
        raise PermissionDeniedException(
            "the form's CSRF token is missing or wrong: reload the page and retry"
        )
    return values
