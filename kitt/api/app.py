"""The Litestar application: the REST API, the web UI, static files, auth, OpenAPI."""

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Litestar, Request, Response
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.exceptions.responses import create_exception_response
from litestar.openapi import OpenAPIConfig
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from kitt import __version__
from kitt.api import filters
from kitt.api.auth import require_principal
from kitt.api.context import ApiContext
from kitt.api.devon import devon_proxy
from kitt.api.fanout import Hub
from kitt.api.metrics import ApiMetrics, metrics
from kitt.api.readcache import ReadCache
from kitt.api.routes.agent_install import agent_package, install_script
from kitt.api.routes.agents import AgentsController
from kitt.api.routes.campaigns import CampaignsController
from kitt.api.routes.catalog import EnginesController, ModelsController, ProfilesController
from kitt.api.routes.runs import RunsController
from kitt.api.routes.settings import SettingsController, UsersController
from kitt.api.routes.streams import StreamsController
from kitt.api.routes.system import health
from kitt.api.routes.tests import TestsController
from kitt.api.session import Signer, load_secret
from kitt.api.ui.admin import AdminPages
from kitt.api.ui.campaigns import CampaignPages
from kitt.api.ui.fleet import FleetPages
from kitt.api.ui.results import ResultsPages

MAX_BODY_BYTES = 1024 * 1024
HERE = Path(__file__).parent
API_PREFIXES = ("/api/", "/schema", "/metrics")


def _templates() -> TemplateConfig:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters.update(filters.FILTERS)
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(env))


def _is_page(request: Request) -> bool:
    return not request.url.path.startswith(API_PREFIXES)


def _html_errors(request: Request, exc: HTTPException) -> Response:
    """Pages answer errors with a page (401: the login page); the API keeps Litestar's JSON."""
    if not _is_page(request):
        return create_exception_response(request, exc)  # Litestar's own JSON, field errors included
    if isinstance(exc, NotAuthorizedException):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(f"/login?next={filters.quote(target)}", status_code=303)
    return Template(
        template_name="error.html",
        context={
            "status": exc.status_code,
            "title": type(exc).__name__.replace("Exception", ""),
            "detail": exc.detail,
            "path": request.url.path,
            "user": None,
            "auth_on": False,
            "csrf_field": "",
            "csrf_token": "",
            "devon_tab": False,
        },
        status_code=exc.status_code,
    )


def create_app(context: ApiContext) -> Litestar:
    def provide_context(state: State) -> ApiContext:
        return state.kitt

    collected = ApiMetrics()
    hub = Hub(context.nc)
    cache = ReadCache(context.position)
    return Litestar(
        route_handlers=[
            health,
            metrics,
            RunsController,
            AgentsController,
            TestsController,
            StreamsController,
            EnginesController,
            ProfilesController,
            ModelsController,
            SettingsController,
            UsersController,
            agent_package,
            install_script,
            ResultsPages,
            FleetPages,
            CampaignPages,
            CampaignsController,
            AdminPages,
            devon_proxy,
            create_static_files_router(
                path="/static", directories=[HERE / "static"], opt={"public": True}, include_in_schema=False
            ),
        ],
        dependencies={"kitt": Provide(provide_context, sync_to_thread=False)},
        guards=[require_principal],
        state=State(
            {
                "kitt": context,
                "signer": Signer(load_secret(context.home)),
                "metrics": collected,
                "hub": hub,
                "cache": cache,
            }
        ),
        on_shutdown=[hub.close],
        middleware=[collected.middleware],
        request_max_body_size=MAX_BODY_BYTES,
        template_config=_templates(),
        exception_handlers={HTTPException: _html_errors},
        openapi_config=OpenAPIConfig(title="KITT", version=__version__, path="/schema"),
    )
