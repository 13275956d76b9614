"""Engines KITT knows, their named profiles, and the local model browser (confined to the model folder)."""

import msgspec
from litestar import Controller, Request, delete, get, put
from litestar.exceptions import ClientException, NotFoundException

from kitt.api.commands import execute
from kitt.api.context import ApiContext
from kitt.commands.messages import DeleteEngineProfile, SaveEngineProfile
from kitt.engines import specs
from kitt.models import browser
from kitt.storage import profiles
from kitt.storage import settings as stored_settings


class Engine(msgspec.Struct, frozen=True):
    name: str
    display: str
    formats: tuple[str, ...]
    runtimes: tuple[str, ...]
    archs: tuple[str, ...]
    default_image: str


class EnginesController(Controller):
    path = "/api/v1/engines"

    @get("/")
    async def list_engines(self) -> list[Engine]:
        return [
            Engine(
                name=name,
                display=s.display,
                formats=s.formats,
                runtimes=s.runtimes,
                archs=s.archs,
                default_image=s.default_image,
            )
            for name, s in sorted(specs.ENGINES.items())
        ]


class ProfileRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    engine: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = {}
    description: str = ""


class ProfilesController(Controller):
    path = "/api/v1/engine-profiles"

    @get("/")
    async def list_profiles(self, kitt: ApiContext) -> list[profiles.Profile]:
        return await profiles.list_profiles(kitt.db)

    @put("/{name:str}")
    async def save(self, request: Request, name: str, data: ProfileRequest) -> profiles.Profile:
        """Save (or replace) profile NAME: extra launch arguments and environment for one engine."""
        try:
            engine = specs.get(data.engine).name
        except specs.UnknownEngine as exc:
            raise ClientException(detail=str(exc)) from None
        command = SaveEngineProfile(
            name=name, engine=engine, args=data.args, env=data.env, description=data.description
        )
        await execute(request, command, wait_for="engine_profiles")
        return profiles.Profile(
            name=name, engine=engine, args=data.args, env=data.env, description=data.description
        )

    @delete("/{name:str}", status_code=204)
    async def remove(self, request: Request, name: str) -> None:
        await execute(request, DeleteEngineProfile(name=name), wait_for="engine_profiles")


class ModelsController(Controller):
    path = "/api/v1/models"

    @get("/")
    async def browse(self, kitt: ApiContext, path: str = "") -> browser.Listing:
        """A folder (or one file) under the model folder: entries, formats, sizes, the engines for each."""
        root = browser.model_dir(await stored_settings.text(kitt.db, "model_dir"))
        if not root.is_dir():
            raise NotFoundException(
                detail=f"the model folder {root} does not exist (set model_dir or KITT_MODEL_DIR)"
            )
        try:
            return browser.browse(root, path)
        except browser.BrowseError as exc:
            raise ClientException(detail=str(exc)) from None
