"""The Devon client: its HTTP backend against a test Devon written to Devon's API (tests/devonserver.py),
its package backend against a fake of Devon's package and its CLI backend against a fake `devon` CLI
written to Devon's own CLI (tests/fakes/devon/), the resolution order between them, and `kitt models`."""

import os
import sys
from pathlib import Path

import pytest

from kitt.devon import command, package
from kitt.devon.command import CliDevon
from kitt.devon.http import HttpDevon
from kitt.devon.protocol import DevonError, DevonNotFound, DevonUnreachable
from kitt.devon.resolve import resolve
from kitt.devon.types import Search
from tests.devonserver import DevonServer, DevonState
from tests.test_cli import kitt

FAKES = Path(__file__).parent / "fakes"
KEY = "devon-secret-key-0123456789"
GGUF = "kitt-test/tiny-llama-GGUF"


@pytest.fixture
def devon(tmp_path):
    with DevonServer(DevonState(storage=tmp_path / "devon-store", api_key=KEY)) as server:
        yield server


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """Devon's package importable (the fake), storing under tmp_path."""
    monkeypatch.syspath_prepend(str(FAKES))
    monkeypatch.setenv("FAKE_DEVON_STORAGE", str(tmp_path / "pkg-store"))
    _forget_devon()
    yield tmp_path / "pkg-store"
    _forget_devon()  # later tests must not find it imported


def _forget_devon() -> None:
    for name in [m for m in sys.modules if m == "devon" or m.startswith("devon.")]:
        del sys.modules[name]


@pytest.fixture
def fake_cli(tmp_path, monkeypatch):
    """A `devon` executable on PATH (the fake CLI), storing under tmp_path; Devon's package not importable."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "devon"
    script.write_text(
        f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(FAKES)!r})\n"
        "from devon.cli.main import cli\ncli()\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_DEVON_STORAGE", str(tmp_path / "cli-store"))
    return tmp_path / "cli-store"


async def test_the_api_backend_searches_downloads_lists_and_removes(devon):
    client = HttpDevon(devon.url, KEY)
    found = await client.search(Search(query="tiny", format="gguf"))
    assert [m.model_id for m in found.results] == [GGUF] and found.results[0].format == ("gguf",)
    got = await client.download(GGUF, include=("*Q8_0*",))
    assert Path(got.path).is_dir() and got.files == ("tiny-Q8_0.gguf",)
    assert (Path(got.path) / "tiny-Q8_0.gguf").read_bytes() == b"weights"
    assert [m.model_id for m in await client.models()] == [GGUF]
    status = await client.status()
    assert status.model_count == 1 and status.sources["huggingface"].count == 1
    await client.remove(GGUF)
    assert await client.models() == () and not Path(got.path).exists()
    assert f"DELETE /api/v1/models/huggingface/{GGUF}" in devon.state.calls


async def test_devon_refusals_are_one_line_errors_without_the_key(devon):
    with pytest.raises(DevonError, match=r"refused the API key \(401\): Invalid or missing API key") as bad:
        await HttpDevon(devon.url, "wrong-key").models()
    assert "wrong-key" not in str(bad.value) and KEY not in str(bad.value)
    with pytest.raises(DevonError, match=r"\(401\)"):
        await HttpDevon(devon.url).models()  # no key at all
    client = HttpDevon(devon.url, KEY)
    with pytest.raises(DevonNotFound, match="Model not found: nobody/nothing"):
        await client.download("nobody/nothing")
    with pytest.raises(DevonError, match=r"failed \(500\): Download failed: kitt-test/broken-GGUF"):
        await client.download("kitt-test/broken-GGUF")
    assert await client.models() == ()  # the failed download left nothing registered
    with pytest.raises(DevonNotFound):
        await client.remove(GGUF)
    with pytest.raises(DevonError, match="must not carry a user or password"):
        HttpDevon(f"http://user:{KEY}@127.0.0.1:1")
    with pytest.raises(DevonError, match="must be http"):
        HttpDevon("ftp://devon")


async def test_an_unreachable_devon_is_said_so():
    with pytest.raises(DevonUnreachable, match=r"Devon at http://127\.0\.0\.1:9 is unreachable"):
        await HttpDevon("http://127.0.0.1:9").health()


async def test_resolution_prefers_the_api_then_the_package_then_the_cli(devon, fake_package, fake_cli):
    assert (await resolve(devon.url, KEY)).describe == f"Devon at {devon.url}"
    assert (await resolve("http://127.0.0.1:9", KEY)).describe == "the devon package"  # unreachable: next
    assert (await resolve(None)).describe == "the devon package"


async def test_resolution_falls_to_the_cli_and_then_says_none_is_there(fake_cli, monkeypatch):
    assert not package.available()
    assert (await resolve(None)).describe == "the devon CLI"
    monkeypatch.setattr(command, "find", lambda: None)
    with pytest.raises(DevonError, match="no Devon: DEVON_URL is not set, neither the devon package nor"):
        await resolve(None)
    unreachable = r"no Devon: Devon at http://127\.0\.0\.1:9 is unreachable: ConnectError, and neither"
    with pytest.raises(DevonError, match=unreachable):
        await resolve("http://127.0.0.1:9")


async def test_a_devon_that_refuses_the_key_is_not_fallen_back_from(devon, fake_package):
    remote = await resolve(devon.url, "wrong-key")  # /health needs no key: this is the Devon to use
    with pytest.raises(DevonError, match="401"):
        await remote.models()


async def test_the_package_backend(fake_package):
    client = package.PackageDevon()
    assert [m.model_id for m in (await client.search(Search(query="tiny"))).results] == [GGUF]
    got = await client.download(GGUF)
    assert got.files == ("tiny-Q8_0.gguf",) and Path(got.path).is_relative_to(fake_package)
    assert (await client.download(GGUF)).path == got.path  # already there: not downloaded again
    assert (await client.status()).model_count == 1
    with pytest.raises(DevonError, match="the devon package failed: ConnectionError: kitt-test/broken-GGUF"):
        await client.download("kitt-test/broken-GGUF")
    with pytest.raises(DevonError, match="cannot download only some files"):
        await client.download(GGUF, include=("*Q4*",), force=True)
    await client.remove(GGUF)
    assert await client.models() == ()
    with pytest.raises(DevonNotFound, match="is not downloaded"):
        await client.remove(GGUF)


async def test_the_cli_backend(fake_cli):
    client = CliDevon(command.find() or "")
    assert await client.models() == ()  # "No models to export."
    got = await client.download(GGUF)
    assert got.files == ("tiny-Q8_0.gguf",) and (Path(got.path) / "tiny-Q8_0.gguf").exists()
    assert (await client.status()).model_count == 1
    with pytest.raises(
        DevonError, match="the devon CLI: download huggingface/kitt-test/broken-GGUF failed: "
    ):
        await client.download("kitt-test/broken-GGUF")  # Devon's CLI says "Download failed" and exits 0
    with pytest.raises(DevonError, match="searching needs Devon's API"):
        await client.search(Search(query="tiny"))
    await client.remove(GGUF)
    assert await client.models() == ()
    with pytest.raises(DevonNotFound, match="Model not found"):
        await client.remove(GGUF)


def test_kitt_models_through_devon(devon, tmp_path):
    env = {**os.environ, "DEVON_URL": devon.url, "DEVON_API_KEY": KEY}
    home = tmp_path / "home"
    found = kitt(home, "models", "search", "tiny", "--format", "gguf", env=env).stdout
    assert GGUF in found and "kitt-test/tiny-llama " not in found
    out = kitt(home, "models", "download", GGUF, env=env).stdout
    assert f"huggingface/{GGUF}: {devon.state.storage}" in out
    assert GGUF in kitt(home, "models", "list", env=env).stdout
    assert '"model_count": 1' in kitt(home, "models", "status", "--json", env=env).stdout
    kitt(home, "models", "remove", GGUF, "--yes", env=env)
    assert devon.state.local == {}
    bad = kitt(home, "models", "list", env={**env, "DEVON_API_KEY": "wrong"}, check=False)
    assert bad.returncode == 1 and "refused the API key (401)" in bad.stderr and "wrong" not in bad.stderr
    gone = kitt(home, "models", "download", "nobody/nothing", env=env, check=False)
    assert gone.returncode == 1 and "Model not found: nobody/nothing" in gone.stderr
