"""A server that replays recorded engine responses over real HTTP/1.1 (chunked, one event per chunk).

Recordings live in tests/recordings/*.json: the status, content type and the body's events as the
engine sends them; each recording says where its format comes from. Events are spaced `gap_s` apart
so clients' timestamps can be checked against the spacing.
"""

import asyncio
import json
from pathlib import Path

from tests.waiting import elapse

RECORDINGS = Path(__file__).parent / "recordings"


def recording(name: str) -> dict:
    return json.loads((RECORDINGS / f"{name}.json").read_text())


class ReplayServer:
    def __init__(self, name: str, *, gap_s: float = 0.02) -> None:
        self.record = recording(name)
        self.gap_s = gap_s
        self.requests: list[tuple[str, bytes]] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> "ReplayServer":
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                length = next(
                    (
                        int(v)
                        for k, _, v in (h.partition(":") for h in lines[1:])
                        if k.strip().lower() == "content-length"
                    ),
                    0,
                )
                body = await reader.readexactly(length) if length else b""
                path = lines[0].split(" ")[1]
                self.requests.append((path, body))
                if path in ("/health", "/api/version"):
                    payload = b'{"status":"ok","version":"0.0-replay"}'
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                        % (len(payload), payload)
                    )
                    await writer.drain()
                    continue
                status = self.record["status"]
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: {self.record['content_type']}\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n".encode()
                )
                for event in self.record["chunks"]:
                    data = event.encode()
                    writer.write(b"%x\r\n%s\r\n" % (len(data), data))
                    await writer.drain()
                    await elapse(self.gap_s)
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
