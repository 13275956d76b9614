"""An agent's control queue (`dispatch.<agent>.cancel` and `.settings`) and the local stop markers.

A cancellation marks the test: a queued one is skipped when it comes, a running one is stopped (the
executor stops the engine and records the run as cancelled) within about a second. Settings edited on the
server arrive as the whole set; they take effect at once and are saved in `agent.yaml` for the next start.
`kitt-agent test stop ID` drops a marker file, which stops the test the same way.
"""

import asyncio
from collections.abc import Mapping
from pathlib import Path

import msgspec
import structlog
from nats.js.client import JetStreamContext

from kitt.agent import config as agent_config
from kitt.agent.config import AgentConfig
from kitt.agent.running import RunningTests
from kitt.events import codec, pull, types

log = structlog.get_logger(__name__)


def updated(config: AgentConfig, settings: Mapping[str, object]) -> AgentConfig | None:
    """The configuration with the server's settings applied, or None (logged) when they do not fit it."""
    known = {k: v for k, v in settings.items() if k in AgentConfig.__struct_fields__}
    try:
        return msgspec.structs.replace(config, **known)
    except (TypeError, ValueError) as exc:
        log.warning("agent.settings_refused", error=str(exc))
        return None


class Control:
    def __init__(
        self, config: AgentConfig, tests: RunningTests, state: Path, config_path: Path | None
    ) -> None:
        self.config = config  # the agent reads this one: settings replace it
        self.tests = tests
        self.stops = state / "stop"
        self.config_path = config_path

    async def run(self, subscription: JetStreamContext.PullSubscription, stop: asyncio.Event) -> None:
        async for messages in pull.batches(subscription, stop, size=16):
            for msg in messages:
                try:
                    event = codec.decode(msg.data, msg.headers).event
                except (codec.MalformedEvent, codec.UnknownEventType) as exc:
                    log.warning("agent.control_skipped", subject=msg.subject, reason=str(exc))
                else:
                    self._apply(event)
                await msg.ack()
            for test_id in self._local_stops():
                self.tests.cancel(test_id)
            self.tests.stop_cancelled()

    def _apply(self, event: types.Event) -> None:
        if isinstance(event, types.DispatchCancelled):
            self.tests.cancel(event.test_id)
        elif isinstance(event, types.AgentSettingsChanged):
            config = updated(self.config, event.settings)
            if config is None:
                return
            self.config = config
            if self.config_path is not None:
                agent_config.save(config, self.config_path)
            log.info("agent.settings_applied", agent=config.name, settings=sorted(event.settings))

    def _local_stops(self) -> list[str]:
        if not self.stops.is_dir():
            return []
        found = []
        for marker in self.stops.glob("*"):
            found.append(marker.name)
            marker.unlink(missing_ok=True)
        return found
