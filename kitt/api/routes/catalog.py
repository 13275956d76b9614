"""Engines KITT knows, and the local model browser (confined to the model folder)."""

import msgspec
from litestar import Controller, get
from litestar.exceptions import ClientException, NotFoundException

from kitt.api.context import ApiContext
from kitt.engines import specs
from kitt.models import browser
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


class ModelsController(Controller):
    path = "/api/v1/models"

    @get("/")
    async def browse(self, kitt: ApiContext, path: str = "") -> browser.Listing:
        """A folder (or one file) under the model folder: entries, formats, sizes, the engines for each."""
        root = browser.model_dir(await stored_settings.text(kitt.db, "model_dir"))
        if root is None:
            raise NotFoundException(detail="no model folder: set model_dir or KITT_MODEL_DIR")
        try:
            return browser.browse(root, path)
        except browser.BrowseError as exc:
            raise ClientException(detail=str(exc)) from None
