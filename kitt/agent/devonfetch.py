"""Devon-managed tests on an agent: the model (a Devon model id) is fetched through this host's Devon
before the run, and removed through it afterwards when the test asks for cleanup.

The Devon is the agent's own (`devon_url` in agent.yaml, else DEVON_URL, else Devon's package or CLI
here), and so is the key (`devon_api_key`, else DEVON_API_KEY): a key never travels in a dispatch, and a
dispatch never chooses where the key goes. A test that names another Devon (`devon.url`) fails before any
request, saying so; the agent's own URL passes the same address checks as the server's Devon proxy (no
link-local or metadata address), at every use. Cleanup removes only what this test downloaded: a model the
host's Devon already had stays. A download that lands a folder of GGUF files is given to the engine as its
first GGUF file (the first shard of a split model), which is what llama.cpp loads.
"""

import os
from pathlib import Path

import msgspec

from kitt.agent.config import AgentConfig
from kitt.devon.address import UpstreamRefused, check_upstream
from kitt.devon.protocol import Devon, DevonError
from kitt.devon.resolve import resolve
from kitt.events.types import TestSpec


class Fetched(msgspec.Struct, frozen=True, kw_only=True):
    model_id: str
    source: str
    path: str  # what the engine is given
    where: str  # which Devon fetched it
    downloaded: bool = True  # False: the host's Devon had it before this test (cleanup leaves it)


def _engine_path(folder: str, files: tuple[str, ...]) -> str:
    ggufs = sorted(f for f in files if f.endswith(".gguf") and "mmproj" not in Path(f).name)
    return str(Path(folder) / ggufs[0]) if ggufs else folder


async def devon_for(spec: TestSpec, config: AgentConfig) -> Devon:
    """This agent's Devon, once the test's request agrees with it; raises DevonError."""
    assert spec.devon is not None
    own = config.devon_url or os.environ.get("DEVON_URL")
    asked = spec.devon.url
    if asked and (own is None or asked.rstrip("/") != own.rstrip("/")):
        mine = f"its own, {own}" if own else "none: set devon_url in agent.yaml or DEVON_URL"
        raise DevonError(
            f"the test asks for the Devon at {asked}; this agent fetches only through its own Devon ({mine})"
        )
    if own:
        try:
            own = await check_upstream(own)
        except UpstreamRefused as exc:
            raise DevonError(f"this agent's {exc}") from None
    return await resolve(own, config.devon_api_key or os.environ.get("DEVON_API_KEY"))


async def _has(devon: Devon, model_id: str, source: str) -> bool:
    return any(m.model_id == model_id for m in await devon.models(source))


async def fetch(spec: TestSpec, config: AgentConfig) -> Fetched:
    """Download the test's model through Devon (a no-op when Devon has it); raises DevonError."""
    assert spec.devon is not None
    devon = await devon_for(spec, config)
    had = await _has(devon, spec.model, spec.devon.source)
    got = await devon.download(spec.model, spec.devon.source, spec.devon.include)
    path = _engine_path(got.path, got.files)
    where = devon.describe
    return Fetched(model_id=spec.model, source=spec.devon.source, path=path, where=where, downloaded=not had)


async def release(spec: TestSpec, config: AgentConfig, fetched: Fetched) -> bool:
    """Remove what this test downloaded; False (and nothing removed) for a model the host already had."""
    if not fetched.downloaded:
        return False
    devon = await devon_for(spec, config)
    await devon.remove(fetched.model_id, fetched.source)
    return True
