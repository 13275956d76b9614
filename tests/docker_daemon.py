"""A Docker Engine API endpoint on a unix socket, answering as dockerd does (API v1.47).

There is no Docker daemon here. Every response follows the Docker Engine API reference for v1.47: the
JSON bodies of /version, image inspect/create (a stream of JSON progress lines), container
create/start/inspect/stop/delete, and the multiplexed log stream (8-byte frame headers, stream 1 =
stdout, 2 = stderr). Starting a container runs what the container would: a stub OpenAI-compatible
server on the port its command names, so health checks and benchmarks reach a real socket.
"""

import asyncio
import json
import struct
from pathlib import Path

from aiohttp import web

from kitt.bench.stubserver import StubServer
from tests.waiting import elapse

API = "1.47"


class FakeDockerd:
    def __init__(
        self, socket: Path, *, images: set[str] | None = None, container_exits: bool = False
    ) -> None:
        self.socket = socket
        self.images = set(images or ())
        self.container_exits = container_exits
        self.calls: list[tuple[str, str]] = []
        self.created: list[dict] = []
        self.containers: dict[str, dict] = {}
        self._servers: dict[str, tuple[asyncio.Server, StubServer]] = {}
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    async def __aenter__(self) -> "FakeDockerd":
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.UnixSite(self._runner, str(self.socket)).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for server, stub in self._servers.values():
            server.close()
            stub._ticker.cancel()
        assert self._runner is not None
        await self._runner.cleanup()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.removeprefix(f"/v{API}")
        self.calls.append((request.method, path))
        parts = [p for p in path.split("/") if p]
        if path == "/version":
            return web.json_response(
                {
                    "Version": "27.3.1",
                    "ApiVersion": API,
                    "MinAPIVersion": "1.24",
                    "Os": "linux",
                    "Arch": "amd64",
                    "KernelVersion": "6.1.0",
                }
            )
        if parts[:1] == ["images"] and parts[-1] == "json":
            name = "/".join(parts[1:-1])
            if name not in self.images:
                return web.json_response({"message": f"No such image: {name}"}, status=404)
            return web.json_response({"Id": "sha256:9f1c", "RepoTags": [name]})
        if path == "/images/create":
            return await self._pull(request)
        if path == "/containers/create":
            config = await request.json()
            if config["Image"] not in self.images:
                return web.json_response({"message": f"No such image: {config['Image']}"}, status=404)
            cid = f"{len(self.created) + 1:064x}"
            self.created.append(config)
            self.containers[cid] = {"config": config, "running": False, "removed": False}
            return web.json_response({"Id": cid, "Warnings": []}, status=201)
        if parts[:1] == ["containers"] and len(parts) >= 2:
            return await self._container(request, parts[1], parts[2] if len(parts) > 2 else "")
        return web.json_response({"message": "page not found"}, status=404)

    async def _pull(self, request: web.Request) -> web.StreamResponse:
        name = request.query["fromImage"] + (f":{request.query['tag']}" if request.query.get("tag") else "")
        if ":" not in name.rsplit("/", 1)[-1]:
            name += ":latest"
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        repo, _, tag = name.rpartition(":")
        for line in (
            {"status": f"Pulling from {repo}", "id": tag},
            {"status": "Pulling fs layer", "progressDetail": {}, "id": "a1b2c3"},
            {"status": "Downloading", "progressDetail": {"current": 1024, "total": 2048}, "id": "a1b2c3"},
            {"status": "Pull complete", "progressDetail": {}, "id": "a1b2c3"},
            {"status": "Digest: sha256:5e1f"},
            {"status": f"Status: Downloaded newer image for {name}"},
        ):
            await response.write(json.dumps(line).encode() + b"\r\n")
        self.images.add(name)
        await response.write_eof()
        return response

    async def _container(self, request: web.Request, cid: str, action: str) -> web.StreamResponse:
        box = self.containers.get(cid)
        if box is None or box["removed"]:
            return web.json_response({"message": f"No such container: {cid}"}, status=404)
        if action == "start" and request.method == "POST":
            box["running"] = not self.container_exits
            if box["running"]:
                cmd = box["config"]["Cmd"]
                port = int(cmd[cmd.index("--port") + 1])
                stub = StubServer(tick_s=0.002)
                stub.start()
                server = await asyncio.get_running_loop().create_server(stub.protocol, "127.0.0.1", port)
                self._servers[cid] = (server, stub)
            return web.Response(status=204)
        if action == "json":
            running = box["running"]
            return web.json_response(
                {
                    "Id": cid,
                    "Config": {"Tty": False, "Image": box["config"]["Image"], "Cmd": box["config"]["Cmd"]},
                    "State": {
                        "Status": "running" if running else "exited",
                        "Running": running,
                        "ExitCode": 0 if running else 1,
                    },
                }
            )
        if action == "logs":
            response = web.StreamResponse(
                headers={"Content-Type": "application/vnd.docker.multiplexed-stream"}
            )
            await response.prepare(request)
            lines = [(1, "INFO: Started server process\n"), (2, "INFO: loading weights\n")]
            if self.container_exits:
                lines.append((2, "RuntimeError: CUDA driver initialization failed\n"))
            for stream, text in lines:
                payload = text.encode()
                await response.write(struct.pack(">BxxxL", stream, len(payload)) + payload)
            if request.query.get("follow") in ("1", "True", "true") and box["running"]:
                while box["running"]:
                    await elapse(0.05)  # a followed log stays open while the container runs
            await response.write_eof()
            return response
        if action == "stop":
            await self._halt(cid)
            return web.Response(status=204)
        if action == "" and request.method == "DELETE":
            await self._halt(cid)
            box["removed"] = True
            return web.Response(status=204)
        return web.json_response({"message": "page not found"}, status=404)

    async def _halt(self, cid: str) -> None:
        self.containers[cid]["running"] = False
        if cid in self._servers:
            server, stub = self._servers.pop(cid)
            server.close()
            stub._ticker.cancel()
