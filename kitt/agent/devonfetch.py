"""Devon-managed tests on an agent: the model (a Devon model id) is fetched through this host's Devon
before the run, and removed through it afterwards when the test asks for cleanup.

The Devon is the test's `devon.url` or the agent's own (`devon_url` in agent.yaml, else DEVON_URL, else
Devon's package or CLI here); the key is the agent's (`devon_api_key`, else DEVON_API_KEY): a key never
travels in a dispatch. A download that lands a folder of GGUF files is given to the engine as its first
GGUF file (the first shard of a split model), which is what llama.cpp loads.
"""

import os
from pathlib import Path

import msgspec

from kitt.agent.config import AgentConfig
from kitt.devon.protocol import Devon
from kitt.devon.resolve import resolve
from kitt.events.types import TestSpec


class Fetched(msgspec.Struct, frozen=True, kw_only=True):
    model_id: str
    source: str
    path: str  # what the engine is given
    where: str  # which Devon fetched it


def _engine_path(folder: str, files: tuple[str, ...]) -> str:
    ggufs = sorted(f for f in files if f.endswith(".gguf") and "mmproj" not in Path(f).name)
    return str(Path(folder) / ggufs[0]) if ggufs else folder


async def devon_for(spec: TestSpec, config: AgentConfig) -> Devon:
    assert spec.devon is not None
    url = spec.devon.url or config.devon_url or os.environ.get("DEVON_URL")
    return await resolve(url, config.devon_api_key or os.environ.get("DEVON_API_KEY"))


async def fetch(spec: TestSpec, config: AgentConfig) -> Fetched:
    """Download the test's model through Devon (a no-op when Devon has it); raises DevonError."""
    assert spec.devon is not None
    devon = await devon_for(spec, config)
    got = await devon.download(spec.model, spec.devon.source, spec.devon.include)
    path = _engine_path(got.path, got.files)
    return Fetched(model_id=spec.model, source=spec.devon.source, path=path, where=devon.describe)


async def release(spec: TestSpec, config: AgentConfig, fetched: Fetched) -> None:
    devon = await devon_for(spec, config)
    await devon.remove(fetched.model_id, fetched.source)
