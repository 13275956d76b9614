"""Agents: list, detail (with presence), provision (the token is returned once)."""

from litestar import Controller, get, post
from litestar.exceptions import NotFoundException

from kitt.agent import tokens
from kitt.api.commands import execute
from kitt.api.context import ApiContext
from kitt.api.schemas import AgentCreated, AgentRequest
from kitt.commands.messages import ProvisionAgent
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
