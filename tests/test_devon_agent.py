"""An agent's Devon (kitt/agent/devonfetch.py) against a test Devon written to Devon's API
(tests/devonserver.py): the dispatch never chooses where the agent's key goes, the agent's own URL passes
the proxy's address checks, and cleanup removes only what the test downloaded."""

import pytest

from kitt.agent import devonfetch
from kitt.agent.config import AgentConfig
from kitt.auth import tokens
from kitt.devon.protocol import DevonError
from kitt.events.types import DevonFetch, TestSpec
from tests.devonserver import DevonServer, DevonState

KEY = "the-agents-own-devon-key-0123456789"
MODEL = "kitt-test/tiny-llama-GGUF"


def _config(devon_url: str | None) -> AgentConfig:
    return AgentConfig(
        name="gpu-1", server="nats://127.0.0.1:1", token=tokens.new(), devon_url=devon_url, devon_api_key=KEY
    )


def _spec(url: str | None = None) -> TestSpec:
    return TestSpec(model=MODEL, engine="llama_cpp", devon=DevonFetch(url=url), cleanup_models=True)


@pytest.fixture
def devons(tmp_path, monkeypatch):
    monkeypatch.delenv("DEVON_URL", raising=False)
    monkeypatch.delenv("DEVON_API_KEY", raising=False)
    own = DevonState(storage=tmp_path / "own", api_key=KEY)
    other = DevonState(storage=tmp_path / "other")  # keyless: it would take whatever it is sent
    with DevonServer(own) as mine, DevonServer(other) as theirs:
        yield mine, theirs


async def test_a_dispatch_naming_another_devon_gets_no_request_and_no_key(devons):
    mine, theirs = devons
    with pytest.raises(DevonError, match=f"asks for the Devon at {theirs.url}; .* only through its own"):
        await devonfetch.fetch(_spec(theirs.url), _config(mine.url))
    with pytest.raises(DevonError, match=r"none: set devon_url in agent\.yaml"):
        await devonfetch.fetch(_spec(theirs.url), _config(None))
    assert theirs.state.calls == [] and mine.state.calls == []
    fetched = await devonfetch.fetch(_spec(f"{mine.url}/"), _config(mine.url))  # its own, named: fine
    assert fetched.where == f"Devon at {mine.url}" and fetched.downloaded


async def test_the_agents_own_devon_url_passes_the_proxys_address_checks(devons):
    for url, why in (
        ("http://169.254.169.254/", "link-local or metadata"),
        ("http://[fe80::1]:8000", "link-local or metadata"),
        ("http://user:pw@127.0.0.1:8000", "no credentials"),
        ("file:///etc/passwd", "expected http"),
    ):
        with pytest.raises(DevonError, match=why):
            await devonfetch.fetch(_spec(), _config(url))


async def test_cleanup_removes_only_what_the_test_downloaded(devons):
    mine, _ = devons
    config = _config(mine.url)
    fresh = await devonfetch.fetch(_spec(), config)  # not on the host before: this test downloaded it
    assert fresh.downloaded and await devonfetch.release(_spec(), config, fresh)
    assert mine.state.local == {}
    await devonfetch.fetch(_spec(), config)  # the host's own copy, from before the next test
    kept = await devonfetch.fetch(_spec(), config)
    assert not kept.downloaded and not await devonfetch.release(_spec(), config, kept)
    assert list(mine.state.local) == [f"huggingface::{MODEL}"]
    assert [c for c in mine.state.calls if c.startswith("DELETE")] == [
        f"DELETE /api/v1/models/huggingface/{MODEL}"
    ]
