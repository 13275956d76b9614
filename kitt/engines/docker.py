"""The docker runtime: the engine in a container through the Docker Engine API (aiodocker).

Host networking (the engine listens on a free host port), the model's directory mounted read-only,
every GPU requested when the host has one, logs streamed line by line, and the container removed
whatever happens.
"""

import asyncio
import collections
import contextlib
import io
import os
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiodocker
import structlog

from kitt.engines import builds, health, hostpaths
from kitt.engines.native import UNKNOWN_BUILDS
from kitt.engines.runtime import (
    Endpoint,
    EngineError,
    Launch,
    LogSink,
    Started,
    drained_lines,
    launch_env,
    render,
)
from kitt.hardware import gpus

log = structlog.get_logger(__name__)
_PACKAGE = Path(__file__).resolve().parent.parent
# In a wheel the Dockerfiles ship as kitt/_docker; in a source checkout they are docker/ at the top.
DOCKERFILES = _PACKAGE / "_docker" if (_PACKAGE / "_docker").is_dir() else _PACKAGE.parent / "docker"
STOP_GRACE_S = 10


class DockerError(EngineError):
    """The Docker daemon is unreachable, or refused to pull, build, create or start."""


def _client(url: str | None = None) -> aiodocker.Docker:
    try:
        return aiodocker.Docker(url=url)
    except Exception as exc:  # aiodocker raises plain exceptions when no socket is found
        raise DockerError(f"cannot reach the Docker daemon: {exc}") from None


async def ensure_image(
    image: str,
    *,
    build: str | None = None,
    log: Callable[[str], object] = print,
    url: str | None = None,
    pull: bool = True,
) -> str:
    """Pull IMAGE (or build it from docker/<build>.Dockerfile) unless the daemon already has it; its id."""
    docker = _client(url)
    try:
        try:
            return _image_id(await docker.images.inspect(image))
        except aiodocker.DockerError as exc:
            if exc.status != 404:
                raise DockerError(f"docker: {exc.message}") from None
        if not pull:
            raise DockerError(f"image {image} is not present; pass --auto-pull or run `kitt engines setup`")
        if build:
            await _build(docker, image, build, log)
        else:
            async for item in docker.images.pull(image, stream=True):
                if "error" in item:
                    raise DockerError(f"pulling {image}: {item['error']}")
                if item.get("status") and not item.get("progressDetail"):
                    log(f"{image}: {item['status']}")
        return _image_id(await docker.images.inspect(image))
    except aiodocker.DockerError as exc:
        raise DockerError(f"docker: {exc.message}") from None
    finally:
        await docker.close()


def _image_id(inspected: dict[str, Any]) -> str:
    return str(inspected["Id"])


async def image_label(image: str, label: str, url: str | None = None) -> str | None:
    docker = _client(url)
    try:
        inspected = await docker.images.inspect(image)
        return ((inspected.get("Config") or {}).get("Labels") or {}).get(label)
    except aiodocker.DockerError:
        return None
    finally:
        await docker.close()


async def _build(docker: aiodocker.Docker, image: str, build: str, log: Callable[[str], object]) -> None:
    dockerfile = DOCKERFILES / f"{build}.Dockerfile"
    if not dockerfile.exists():
        raise DockerError(f"no Dockerfile for {image}: {dockerfile} is missing")
    needs = await asyncio.to_thread(builds.inputs, build)
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        tar.add(dockerfile, arcname="Dockerfile")
        for name, path in needs.files.items():
            tar.add(path, arcname=name)
    context.seek(0)
    log(
        f"building {image} from {dockerfile.name}"
        + (f" on {needs.args['BASE']}" if "BASE" in needs.args else "")
    )
    stream = docker.images.build(
        fileobj=context, tag=image, stream=True, encoding="identity", buildargs=needs.args or None
    )
    async for item in stream:
        if "error" in item:
            raise DockerError(f"building {image}: {item['error']}")
        if item.get("stream", "").strip():
            log(item["stream"].rstrip())


class DockerRuntime:
    name = "docker"

    def __init__(self, *, auto_pull: bool = False, url: str | None = None) -> None:
        self.auto_pull = auto_pull
        self.url = url
        self.docker: aiodocker.Docker | None = None
        self.container: aiodocker.containers.DockerContainer | None = None
        self.lines: collections.deque[str] = collections.deque(maxlen=50)
        self._logs: asyncio.Task[None] | None = None

    @staticmethod
    def _command(launch: Launch) -> list[str]:
        spec = launch.spec
        in_container = f"{spec.model_mount}/{Path(launch.model_path).name}"
        args = render(
            spec.docker_args,
            model=in_container,
            name=launch.served_name,
            port=launch.port,
            model_dir=spec.model_mount,
        )
        return [*args, *launch.extra_args]

    def _config(self, launch: Launch, model_dir: Path) -> dict[str, Any]:  # the Engine API's container body
        spec = launch.spec
        env = [f"{k}={v}" for k, v in launch_env(launch).items()]
        host: dict[str, object] = {
            "NetworkMode": "host",
            "Binds": [f"{model_dir}:{spec.model_mount}:ro"],
            "IpcMode": "host",
        }
        if gpus.inventory().gpus:
            host["DeviceRequests"] = [{"Driver": "nvidia", "Count": -1, "Capabilities": [["gpu"]]}]
        body: dict[str, Any] = {
            "Image": launch.image,
            "Cmd": self._command(launch),
            "Env": env,
            "Labels": {"kitt.engine": spec.name, "kitt.managed": "true"},
            "HostConfig": host,
        }
        if launch.image_build is not None:
            # A KITT-managed image runs as whoever runs KITT, so it reads the models they can read (its
            # default user, for a plain `docker run`, is an unprivileged one). Others keep their own user.
            body["User"] = f"{os.getuid()}:{os.getgid()}"
        return body

    async def start(self, launch: Launch, logs: LogSink) -> Started:
        if launch.image is None:
            raise DockerError("the docker runtime needs an image")
        image_id = await ensure_image(
            launch.image, build=launch.image_build, log=lambda line: None, url=self.url, pull=self.auto_pull
        )
        started = time.monotonic()
        self.docker = _client(self.url)
        try:
            model_dir = await hostpaths.on_host(self.docker, Path(launch.model_path).parent)
            self.container = await self.docker.containers.create(self._config(launch, model_dir))
            await self.container.start()
        except aiodocker.DockerError as exc:
            await self.stop()
            raise DockerError(f"docker could not start {launch.image}: {exc.message}") from None
        self._logs = asyncio.create_task(self._pump(logs))
        args = tuple(self._command(launch))
        endpoint = Endpoint(host="127.0.0.1", port=launch.port, model=launch.served_name, spec=launch.spec)
        try:
            await health.wait_healthy(
                endpoint,
                timeout_s=launch.health_timeout_s,
                alive=self.alive,
                last_logs=self.last_lines,
            )
        except BaseException:
            await self.stop()
            raise
        version = await health.read_version(endpoint)
        if version is None or version in UNKNOWN_BUILDS:  # a KITT-managed image knows what it holds
            version = await image_label(launch.image, "kitt.engine_version", self.url) or version
        return Started(
            endpoint=endpoint,
            version=version,
            image=launch.image,
            image_id=image_id,
            launch_s=time.monotonic() - started,
            args=args,
        )

    async def last_lines(self) -> list[str]:
        return await drained_lines(self._logs, self.lines, self.alive)

    async def _pump(self, logs: LogSink) -> None:
        assert self.container is not None
        with contextlib.suppress(aiodocker.DockerError, asyncio.CancelledError):
            async for chunk in self.container.log(stdout=True, stderr=True, follow=True):
                for line in chunk.splitlines():
                    self.lines.append(line)
                    with contextlib.suppress(Exception):
                        await logs(line)

    async def alive(self) -> bool:
        if self.container is None:
            return False
        try:
            info = await self.container.show()
        except aiodocker.DockerError:
            return False
        return bool(info.get("State", {}).get("Running"))

    async def stop(self) -> None:
        container, self.container = self.container, None
        if container is not None:
            with contextlib.suppress(aiodocker.DockerError):
                await container.stop(t=STOP_GRACE_S)
            with contextlib.suppress(aiodocker.DockerError):
                await container.delete(force=True)
            log.info("engine.container_removed", id=container.id)
        if self._logs is not None:
            self._logs.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._logs
        if self.docker is not None:
            await self.docker.close()
            self.docker = None
