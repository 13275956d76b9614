"""The external runtime: benchmark a server someone else runs (`--endpoint URL`); nothing is started."""

import time
from urllib.parse import urlparse

import msgspec

from kitt.engines import health, served
from kitt.engines.runtime import Endpoint, EngineError, Launch, LogSink, Started


class ExternalRuntime:
    name = "external"

    def __init__(self, url: str) -> None:
        parsed = urlparse(url)
        if parsed.scheme != "http" or not parsed.hostname:
            raise EngineError(f"--endpoint must be an http://host:port URL, not {url!r}")
        self.host = parsed.hostname
        self.port = parsed.port or 80

    async def start(self, launch: Launch, logs: LogSink) -> Started:
        endpoint = Endpoint(host=self.host, port=self.port, model=launch.served_name, spec=launch.spec)
        started = time.monotonic()

        async def reachable() -> bool:
            return True

        await health.wait_healthy(
            endpoint, timeout_s=min(launch.health_timeout_s, 30.0), alive=reachable, last_logs=self.last_lines
        )
        name = served.choose(
            await served.listed(endpoint), name=launch.served_name, given=launch.model_path, url=endpoint.url
        )
        if name != endpoint.model:
            endpoint = msgspec.structs.replace(endpoint, model=name)
            await logs(f"the server serves {launch.served_name!r} as {name!r}")
        await logs(f"using the {launch.spec.display} server at {endpoint.url}")
        version = await health.read_version(endpoint)
        return Started(endpoint=endpoint, version=version, image=None, launch_s=time.monotonic() - started)

    async def alive(self) -> bool:
        return True

    async def last_lines(self) -> list[str]:
        return ["(an external server: its logs are wherever it runs)"]

    async def stop(self) -> None:
        return None
