"""Ollama through its native API: a GGUF is uploaded as a blob and created as a model, then benchmarked.

Ollama cannot run here. The server below answers as Ollama's API documentation (docs/api.md) describes:
HEAD/POST /api/blobs/sha256:<digest> (404 until uploaded, 201 Created), POST /api/create with `files`,
GET /api/version, and /api/generate streaming the NDJSON recording in tests/recordings/ollama_generate.json
(404 with an error body for a model it does not have).
"""

import hashlib

import pytest
from aiohttp import web

from kitt.events.ids import uuid7
from kitt.orchestration.executor import Executor, RunRequest
from kitt.orchestration.reporting import CommandReporter
from kitt.storage import queries, records
from kitt.storage.checkpoints import wait_for_checkpoint
from tests.replay import recording
from tests.waiting import elapse


class FakeOllama:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.models: dict[str, dict] = {}
        self.generated: list[str] = []
        self.port = 0

    async def __aenter__(self) -> "FakeOllama":
        app = web.Application(client_max_size=64 << 20)
        app.router.add_get("/api/version", self._version)
        app.router.add_route("HEAD", "/api/blobs/{digest}", self._has_blob)
        app.router.add_post("/api/blobs/{digest}", self._put_blob)
        app.router.add_post("/api/create", self._create)
        app.router.add_post("/api/generate", self._generate)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": "0.12.3"})

    async def _has_blob(self, request: web.Request) -> web.Response:
        return web.Response(status=200 if request.match_info["digest"] in self.blobs else 404)

    async def _put_blob(self, request: web.Request) -> web.Response:
        digest = request.match_info["digest"]
        data = await request.read()
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            return web.json_response({"error": "digest mismatch"}, status=400)
        self.blobs[digest] = data
        return web.Response(status=201)

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        missing = [d for d in body["files"].values() if d not in self.blobs]
        if missing:
            return web.json_response({"error": f"blob {missing[0]} not found"}, status=400)
        self.models[body["model"]] = body
        return web.json_response({"status": "success"})

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if body["model"] not in self.models:
            return web.json_response(
                {"error": f'model "{body["model"]}" not found, try pulling it first'}, status=404
            )
        self.generated.append(body["model"])
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        for line in recording("ollama_generate")["chunks"]:
            await response.write(line.encode())
            await elapse(0.002)  # Ollama's pacing: one line per token
        await response.write_eof()
        return response


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_gguf_is_created_in_ollama_and_benchmarked(runtime, tiny_model):
    async with FakeOllama() as ollama:
        request = RunRequest(
            run_id=uuid7(),
            model=str(tiny_model),
            engine="ollama",
            runtime="external",
            endpoint=f"http://127.0.0.1:{ollama.port}",
            suite="quick",
        )
        outcome = await Executor(CommandReporter(runtime.nc), home=runtime.settings.home).run(request)
    assert outcome.status == "succeeded", outcome.error
    digest = "sha256:" + hashlib.sha256(tiny_model.read_bytes()).hexdigest()
    assert ollama.blobs[digest] == tiny_model.read_bytes()
    assert ollama.models["tiny"]["files"] == {"tiny.gguf": digest}
    assert set(ollama.generated) == {"tiny"}
    assert await wait_for_checkpoint(runtime.engine, "karr", outcome.seq)
    [doc] = await queries.documents(runtime.engine, [outcome.run_id])
    assert doc.info.engine_version == "0.12.3"
    samples = await records.samples_of(runtime.nc, doc.benchmarks[0])
    assert samples and {s["token_source"] for s in samples} == {"usage"}  # eval_count from the final line
    assert all(s["output_tokens"] == 5 and s["prompt_tokens"] == 26 for s in samples)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_model_ollama_lacks_fails_with_its_error(runtime):
    async with FakeOllama() as ollama:
        request = RunRequest(
            run_id=uuid7(),
            model="llama3.2",
            engine="ollama",
            runtime="external",
            endpoint=f"http://127.0.0.1:{ollama.port}",
            suite="quick",
        )
        outcome = await Executor(CommandReporter(runtime.nc), home=runtime.settings.home).run(request)
    assert outcome.status == "failed"
    assert 'HTTP 404: {"error": "model \\"llama3.2\\" not found, try pulling it first"}' in outcome.error
