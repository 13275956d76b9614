"""The Litestar application: routes, the bearer-token guard, the KITT context for handlers, OpenAPI."""

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from kitt import __version__
from kitt.api.auth import require_token
from kitt.api.context import ApiContext
from kitt.api.routes.agent_install import agent_package, install_script
from kitt.api.routes.agents import AgentsController
from kitt.api.routes.runs import RunsController
from kitt.api.routes.system import health
from kitt.api.routes.tests import TestsController

MAX_BODY_BYTES = 1024 * 1024


def create_app(context: ApiContext) -> Litestar:
    def provide_context(state: State) -> ApiContext:
        return state.kitt

    return Litestar(
        route_handlers=[
            health,
            RunsController,
            AgentsController,
            TestsController,
            agent_package,
            install_script,
        ],
        dependencies={"kitt": Provide(provide_context, sync_to_thread=False)},
        guards=[require_token],
        state=State({"kitt": context}),
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=OpenAPIConfig(title="KITT", version=__version__, path="/schema"),
    )
