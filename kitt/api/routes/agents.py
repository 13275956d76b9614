"""Agents: list, detail (with presence), provision and rotate (the token is shown once), revoke, settings."""

from litestar import Controller, Request, get, post, put
from litestar.exceptions import NotFoundException

from kitt.api.commands import execute
from kitt.api.context import ApiContext
from kitt.api.routes.agent_install import ca_pem
from kitt.api.schemas import AgentCreated, AgentRequest, AgentSettings, Created
from kitt.auth import tokens
from kitt.commands.messages import ChangeAgentSettings, ProvisionAgent, RevokeAgent, RotateAgentToken
from kitt.storage import fleet


class AgentsController(Controller):
    path = "/api/v1/agents"

    @get("/")
    async def list_agents(self, kitt: ApiContext) -> list[fleet.Agent]:
        return [await fleet.presence(kitt.nc, a) for a in await fleet.agents(kitt.db)]

    @get("/{name:str}")
    async def get_agent(self, kitt: ApiContext, name: str) -> fleet.Agent:
        found = await fleet.agent(kitt.db, name)
        if found is None:
            raise NotFoundException(detail=f"unknown agent {name!r}")
        return await fleet.presence(kitt.nc, found)

    @post("/")
    async def provision(self, request: Request, kitt: ApiContext, data: AgentRequest) -> AgentCreated:
        token = tokens.new()
        await execute(
            request, ProvisionAgent(name=data.name, token_hash=tokens.digest(token)), wait_for="agents"
        )
        return AgentCreated(name=data.name, token=token, server=kitt.agent_url, ca=ca_pem(kitt))

    @post("/{name:str}/rotate", status_code=200)
    async def rotate(self, request: Request, kitt: ApiContext, name: str) -> AgentCreated:
        """A new token for the agent; the old one stops working at once (its connection is kicked)."""
        token = tokens.new()
        command = RotateAgentToken(agent_id=name, token_hash=tokens.digest(token))
        await execute(request, command, wait_for="agents")
        return AgentCreated(name=name, token=token, server=kitt.agent_url, ca=ca_pem(kitt))

    @post("/{name:str}/rotate-token", status_code=200)
    async def rotate_token(self, request: Request, kitt: ApiContext, name: str) -> AgentCreated:
        """The same as `rotate`, at the path the seed documents."""
        return await self.rotate.fn(self, request, kitt, name)

    @post("/{name:str}/revoke", status_code=200)
    async def revoke(self, request: Request, name: str) -> Created:
        reply = await execute(request, RevokeAgent(agent_id=name, reason="revoked through the API"))
        return Created(id=name, seq=reply.seq)

    @put("/{name:str}/settings")
    async def change_settings(self, request: Request, name: str, data: AgentSettings) -> Created:
        """The agent's whole settings set (model_dir, nfs_mount, cleanup_models, heartbeat_s)."""
        command = ChangeAgentSettings(agent_id=name, settings=data.settings)
        reply = await execute(request, command, wait_for="agents")
        return Created(id=name, seq=reply.seq)
