"""Agents: list, detail (with presence), provision and rotate (the token is shown once), revoke, settings."""

from litestar import Controller, get, post, put
from litestar.exceptions import NotFoundException

from kitt.agent import tokens
from kitt.api.commands import execute
from kitt.api.context import ApiContext
from kitt.api.schemas import AgentCreated, AgentRequest, AgentSettings, Created
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
    async def provision(self, kitt: ApiContext, data: AgentRequest) -> AgentCreated:
        token = tokens.new()
        await execute(
            kitt,
            ProvisionAgent(name=data.name, token_hash=tokens.digest(token), actor="api"),
            wait_for="agents",
        )
        return AgentCreated(name=data.name, token=token, server=kitt.agent_url)

    @post("/{name:str}/rotate", status_code=200)
    async def rotate(self, kitt: ApiContext, name: str) -> AgentCreated:
        """A new token for the agent; the old one stops working at once (its connection is kicked)."""
        token = tokens.new()
        command = RotateAgentToken(agent_id=name, token_hash=tokens.digest(token), actor="api")
        await execute(kitt, command, wait_for="agents")
        return AgentCreated(name=name, token=token, server=kitt.agent_url)

    @post("/{name:str}/revoke", status_code=200)
    async def revoke(self, kitt: ApiContext, name: str) -> Created:
        reply = await execute(kitt, RevokeAgent(agent_id=name, reason="revoked through the API", actor="api"))
        return Created(id=name, seq=reply.seq)

    @put("/{name:str}/settings")
    async def change_settings(self, kitt: ApiContext, name: str, data: AgentSettings) -> Created:
        """The agent's whole settings set (model_dir, nfs_source, nfs_mount, cleanup_models, heartbeat_s)."""
        command = ChangeAgentSettings(agent_id=name, settings=data.settings, actor="api")
        reply = await execute(kitt, command, wait_for="agents")
        return Created(id=name, seq=reply.seq)
