"""Login and logout, the model browser, and settings (KITT's own and the users' API tokens)."""

import os
from datetime import UTC, datetime
from urllib.parse import urlsplit

from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import ClientException
from litestar.response import Redirect, Template

from kitt.api.auth import token_principal
from kitt.api.commands import execute
from kitt.api.context import ApiContext
from kitt.api.session import COOKIE, Signer, token_hash
from kitt.api.ui.page import form, page, session_cookie
from kitt.commands.messages import ChangeSetting, EndSession, IssueUserToken, RevokeUserToken
from kitt.devon.address import UpstreamRefused, check_upstream
from kitt.events.states import ROLES
from kitt.events.types import Scalar
from kitt.models import browser
from kitt.storage import settings as stored_settings
from kitt.storage import users

SECRET_SETTINGS = {"devon_api_key"}  # written, never shown back


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect to another host."""
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return "/"
    return target


def _from_elsewhere(request: Request) -> bool:
    """Posted from another site or a local file (`kitt web`'s login page), not from our own form."""
    return request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none") or (
        request.headers.get("origin") == "null"
    )


class AdminPages(Controller):
    include_in_schema = False

    @get("/login", opt={"public": True})
    async def login_form(self, request: Request) -> Template:
        nxt = _safe_next(request.query_params.get("next"))
        return await page(request, "login.html", next=nxt, error=None)

    @post("/login", opt={"public": True, "login": True})
    async def login(self, request: Request, kitt: ApiContext) -> Template | Redirect:
        data = await request.form()
        token = str(data.get("token", "")).strip()
        nxt = _safe_next(str(data.get("next", "/")))
        found = await token_principal(kitt, token) if token else None
        if found is None:
            template = await page(request, "login.html", next=nxt, error="That token is not valid.")
            template.status_code = 401
            return template
        signer: Signer = request.app.state.signer
        cookie = session_cookie(request, signer.issue(found.name, signer.tag(token_hash(token))))
        if _from_elsewhere(request):
            # A redirect would carry on the other site's navigation, which a SameSite=Strict cookie does
            # not ride on: this page's own refresh is a navigation from this site, so it does.
            return Template(template_name="logged_in.html", context={"next": nxt}, cookies=[cookie])
        return Redirect(nxt, status_code=303, cookies=[cookie])

    @post("/logout", opt={"any_role": True})
    async def logout(self, request: Request) -> Redirect:
        """Ends the session on the server too: the cookie, even if kept, opens nothing afterwards."""
        await form(request)
        session = request.state.get("session")
        if session is not None:
            ends = datetime.fromtimestamp(session.exp, UTC)
            command = EndSession(session_id=session.sid, user=session.user, expires_at=ends)
            await execute(request, command, wait_for="sessions")
        gone = Cookie(key=COOKIE, value="", path="/", max_age=0, httponly=True, samesite="strict")
        return Redirect("/login", status_code=303, cookies=[gone])

    @get("/models")
    async def models(self, request: Request, kitt: ApiContext, path: str = "") -> Template:
        root = browser.model_dir(await stored_settings.text(kitt.db, "model_dir"))
        if not root.is_dir():
            problem = f"The model folder {root} does not exist yet: set model_dir, or put models there."
            return await page(request, "models.html", listing=None, problem=problem)
        try:
            listing = browser.browse(root, path)
        except browser.BrowseError as exc:
            raise ClientException(detail=str(exc)) from None
        return await page(request, "models.html", listing=listing, problem=None)

    @get("/settings")
    async def settings(self, request: Request, kitt: ApiContext) -> Template:
        saved = await stored_settings.all_settings(kitt.db)
        rows = []
        for key, variable in stored_settings.KNOWN.items():
            value = saved.get(key)
            env = os.environ.get(variable) if variable else None
            secret = key in SECRET_SETTINGS
            rows.append(
                {
                    "key": key,
                    "variable": variable,
                    "value": "" if secret or value is None else value,
                    "is_set": value not in (None, ""),
                    "env_set": bool(env),
                    "env": None if secret else env,
                    "secret": secret,
                    "boolean": key.endswith("_visible"),
                }
            )
        return await page(
            request, "settings.html", rows=rows, users=await users.names(kitt.db), new_token=None
        )

    @post("/settings")
    async def save_settings(self, request: Request, kitt: ApiContext) -> Redirect:
        values = await form(request)
        saved = await stored_settings.all_settings(kitt.db)
        for key in stored_settings.KNOWN:
            if key.endswith("_visible"):
                value: Scalar = values.get(key) in ("on", "true", "1")
            elif key in SECRET_SETTINGS:
                if not values.get(key):
                    continue  # left blank: keep the saved key
                value = values[key]
            else:
                value = values.get(key, "").strip()
            if key == "devon_url" and value:
                try:
                    await check_upstream(str(value))
                except UpstreamRefused as exc:
                    raise ClientException(detail=str(exc)) from None
            if saved.get(key, "" if not key.endswith("_visible") else False) != value:
                await execute(request, ChangeSetting(key=key, value=value), wait_for="settings")
        return Redirect("/settings", status_code=303)

    @post("/settings/users")
    async def issue_user(self, request: Request, kitt: ApiContext) -> Template:
        values = await form(request)
        name = values.get("name", "").strip()
        role = next((r for r in ROLES if r == values.get("role", "viewer")), None)
        if role is None:
            raise ClientException(detail=f"role must be one of {', '.join(ROLES)}")
        token = users.new()
        command = IssueUserToken(name=name, token_hash=users.digest(token), role=role)
        await execute(request, command, wait_for="users")
        return await page(request, "user_token.html", name=name, token=token, role=role)

    @post("/settings/users/{name:str}/revoke")
    async def revoke_user(self, request: Request, kitt: ApiContext, name: str) -> Redirect:
        await form(request)
        await execute(request, RevokeUserToken(name=name), wait_for="users")
        return Redirect("/settings", status_code=303)
