"""KITT's settings (saved values override environment variables) and users' API tokens."""

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.exceptions import ClientException

from kitt.api.commands import execute
from kitt.api.context import ApiContext
from kitt.commands.messages import ChangeSetting, IssueUserToken, RevokeUserToken
from kitt.devon.address import UpstreamRefused, check_upstream
from kitt.events.states import Role
from kitt.storage import settings as stored_settings
from kitt.storage import users

SECRET_SETTINGS = frozenset({"devon_api_key"})


class Setting(msgspec.Struct, frozen=True):
    key: str
    value: str | int | float | bool | None  # a secret reads back as "***" when set
    overrides: str  # the environment variable it takes priority over ("" for none)


class SettingChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    value: str | int | float | bool | None


class UserRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    role: Role = "viewer"


class UserToken(msgspec.Struct, frozen=True):
    name: str
    token: str  # shown once: only its SHA-256 is kept
    role: Role


class User(msgspec.Struct, frozen=True):
    name: str
    issued_at: str
    role: Role | None = None


class SettingsController(Controller):
    path = "/api/v1/settings"

    @get("/")
    async def list_settings(self, kitt: ApiContext) -> list[Setting]:
        saved = await stored_settings.all_settings(kitt.db)
        out = []
        for key, variable in stored_settings.KNOWN.items():
            value = saved.get(key)
            if key in SECRET_SETTINGS and value:
                value = "***"
            out.append(Setting(key=key, value=value, overrides=variable))
        return out

    @put("/{key:str}")
    async def change(self, request: Request, key: str, data: SettingChange) -> Setting:
        if key not in stored_settings.KNOWN:
            known = ", ".join(stored_settings.KNOWN)
            raise ClientException(detail=f"unknown setting {key!r}; known: {known}")
        if key == "devon_url" and data.value:
            try:
                await check_upstream(str(data.value))
            except UpstreamRefused as exc:
                raise ClientException(detail=str(exc)) from None
        await execute(request, ChangeSetting(key=key, value=data.value), wait_for="settings")
        shown = "***" if key in SECRET_SETTINGS and data.value else data.value
        return Setting(key=key, value=shown, overrides=stored_settings.KNOWN.get(key, ""))


class UsersController(Controller):
    path = "/api/v1/users"

    @get("/")
    async def list_users(self, kitt: ApiContext) -> list[User]:
        return [User(name=n, issued_at=at, role=role) for n, at, role in await users.names(kitt.db)]

    @post("/")
    async def issue(self, request: Request, data: UserRequest) -> UserToken:
        """A new API token for the user (replacing any earlier one), with its role; it is returned once."""
        token = users.new()
        command = IssueUserToken(name=data.name, token_hash=users.digest(token), role=data.role)
        await execute(request, command, wait_for="users")
        return UserToken(name=data.name, token=token, role=data.role)

    @post("/{name:str}/revoke", status_code=200)
    async def revoke(self, request: Request, name: str) -> User:
        await execute(request, RevokeUserToken(name=name), wait_for="users")
        return User(name=name, issued_at="")
