"""The seam between a run and an engine: start it somewhere, get an endpoint, stop it."""

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Protocol

import msgspec

from kitt.engines import profile_env
from kitt.engines.specs import EngineSpec, RuntimeName

LogSink = Callable[[str], Awaitable[None]]  # receives each line the engine writes


class EngineError(RuntimeError):
    """The engine could not start, never became healthy, or died; the message carries its last log lines."""


class Endpoint(msgspec.Struct, frozen=True, kw_only=True):
    host: str
    port: int
    model: str  # the name requests must use
    spec: EngineSpec

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class Launch(msgspec.Struct, frozen=True, kw_only=True):
    spec: EngineSpec
    model_path: str
    served_name: str
    port: int
    extra_args: tuple[str, ...] = ()  # from an engine profile
    env: dict[str, str] = {}
    image: str | None = None  # docker
    image_build: str | None = None  # docker: the Dockerfile under docker/ that builds a KITT-managed image
    health_timeout_s: float = 600.0


class Started(msgspec.Struct, frozen=True, kw_only=True):
    endpoint: Endpoint
    version: str | None
    image: str | None
    launch_s: float  # from launch to healthy
    image_id: str | None = None  # the image's content digest (sha256:…) as the daemon ran it
    args: tuple[str, ...] = ()  # the engine's arguments as launched


class EngineRuntime(Protocol):
    name: str

    async def start(self, launch: Launch, logs: LogSink) -> Started: ...

    async def alive(self) -> bool: ...

    async def last_lines(self) -> list[str]: ...

    async def stop(self) -> None: ...


async def drained_lines(
    pump: "asyncio.Task[None] | None", lines: Iterable[str], alive: Callable[[], Awaitable[bool]]
) -> list[str]:
    """The engine's last lines; if it just exited, first let its log pump deliver what is still in flight."""
    if pump is not None and not await alive():
        with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
            await asyncio.wait_for(asyncio.shield(pump), 2)
    return list(lines)


def launch_env(launch: Launch) -> dict[str, str]:
    """The spec's environment with the port filled in, then the profile's (never a loader variable)."""
    profile_env.check(launch.env)
    return {**{k: v.format(port=launch.port) for k, v in launch.spec.launch_env.items()}, **launch.env}


def render(args: tuple[str, ...], *, model: str, name: str, port: int, model_dir: str = "") -> list[str]:
    return [a.format(model=model, name=name, port=port, model_dir=model_dir) for a in args]


def default_runtime_name(endpoint: str | None) -> RuntimeName:
    """external with --endpoint; docker when a Docker daemon is reachable; otherwise a native process."""
    if endpoint:
        return "external"
    if os.environ.get("DOCKER_HOST") or Path("/var/run/docker.sock").exists():
        return "docker"
    return "native"
