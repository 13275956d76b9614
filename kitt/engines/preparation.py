"""Engine-specific steps between healthy and serving: Ollama must be given a GGUF before it can serve it.

Ollama serves models from its own store. A GGUF file is uploaded as a blob (`POST /api/blobs/sha256:…`,
streamed from disk with sendfile) and registered under the served name (`POST /api/create`), as its API
documents. Other engines load the model at launch and need nothing here.
"""

import asyncio
import hashlib
import os
from pathlib import Path

import msgspec

from kitt.engines import httpconn
from kitt.engines.runtime import Endpoint, EngineError

CHUNK = 1 << 20


class _CreateReply(msgspec.Struct):
    status: str | None = None
    error: str | None = None


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            sha.update(block)
    return sha.hexdigest()


async def _upload(endpoint: Endpoint, path: Path, digest: str) -> None:
    exists = await httpconn.fetch(endpoint.host, endpoint.port, "HEAD", f"/api/blobs/sha256:{digest}")
    if exists.status == 200:
        return
    reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port)
    try:
        size = await asyncio.to_thread(os.path.getsize, path)
        writer.write(
            f"POST /api/blobs/sha256:{digest} HTTP/1.1\r\nHost: {endpoint.host}:{endpoint.port}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        await writer.drain()
        with open(path, "rb") as fh:  # noqa: ASYNC230 - handed to sendfile, not read here
            await asyncio.get_running_loop().sendfile(writer.transport, fh)
        status_line = await reader.readline()
    finally:
        writer.close()
    parts = status_line.split()
    if len(parts) < 2 or parts[1] not in (b"200", b"201"):
        raise EngineError(f"Ollama refused the model upload: {status_line.decode(errors='replace').strip()}")


async def prepare(endpoint: Endpoint, model_path: Path | None) -> None:
    if endpoint.spec.name != "ollama" or model_path is None:
        return
    if not await asyncio.to_thread(os.path.isfile, model_path):
        return
    digest = await asyncio.to_thread(_digest, model_path)
    await _upload(endpoint, model_path, digest)
    body = msgspec.json.encode(
        {"model": endpoint.model, "files": {model_path.name: f"sha256:{digest}"}, "stream": False}
    )
    response = await httpconn.fetch(endpoint.host, endpoint.port, "POST", "/api/create", body, timeout=600)
    try:
        reply = msgspec.json.decode(response.body(), type=_CreateReply)
    except msgspec.DecodeError:
        reply = _CreateReply(error=response.body()[:200].decode(errors="replace"))
    if response.status != 200 or reply.error:
        raise EngineError(
            f"Ollama could not create model {endpoint.model!r}: {reply.error or response.status}"
        )
