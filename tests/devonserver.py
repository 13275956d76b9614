"""A test Devon: an HTTP server written to Devon's published API (spec/DEVON-API.md, copied into
docs/devon-api.md), not Devon itself — Devon is not on PyPI and has no release that runs here.

It keeps a small remote catalogue and a real storage folder: a download writes the model's files there
and answers with their path, a delete removes them. `api_key` makes every /api/v1 call need it (401 with
Devon's own message otherwise). A model id with `broken` in it fails its download with a 500.
"""

import json
import shutil
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

CATALOGUE = {
    "kitt-test/tiny-llama-GGUF": {"format": ["gguf"], "parameter_count": 0.001, "files": ["tiny-Q8_0.gguf"]},
    "kitt-test/tiny-llama": {
        "format": ["safetensors"],
        "parameter_count": 0.001,
        "files": ["model.safetensors"],
    },
    "kitt-test/broken-GGUF": {"format": ["gguf"], "parameter_count": 7.0, "files": ["broken.gguf"]},
}


@dataclass
class DevonState:
    storage: Path
    api_key: str | None = None
    payload: bytes = b"weights"  # what each downloaded file holds (a test puts a real GGUF here)
    local: dict[str, dict] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)  # "METHOD /path", to check what KITT asked


def _remote(model_id: str) -> dict:
    known = CATALOGUE[model_id]
    return {
        "source": "huggingface",
        "model_id": model_id,
        "model_name": model_id.split("/")[-1],
        "author": model_id.split("/")[0],
        "total_size_bytes": 7 * len(known["files"]),
        "file_count": len(known["files"]),
        "parameter_count": known["parameter_count"],
        "format": known["format"],
        "tags": [],
        "downloads": 3,
        "likes": 1,
    }


class _Handler(BaseHTTPRequestHandler):
    state: DevonState

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        if self.state.api_key is None or self.headers.get("Authorization") == f"Bearer {self.state.api_key}":
            return True
        self._send(401, {"detail": "Invalid or missing API key"})
        return False

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        self.state.calls.append(f"{method} {url.path}")
        if url.path == "/health" and method == "GET":
            return self._send(200, {"status": "ok", "version": "test-1.0"})
        if not url.path.startswith("/api/v1/") or not self._authorised():
            return None if url.path.startswith("/api/v1/") else self._send(404, {"detail": "Not Found"})
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        path = url.path.removeprefix("/api/v1")
        if method == "GET" and path == "/search":
            return self._search(query)
        if method == "GET" and path == "/models":
            models = [m for m in self.state.local.values() if query.get("source") in (None, m["source"])]
            return self._send(200, {"count": len(models), "models": models})
        if method == "GET" and path == "/status":
            return self._status()
        if method == "POST" and path == "/downloads":
            return self._download()
        if method == "DELETE" and path.startswith("/models/"):
            return self._delete(unquote(path.removeprefix("/models/")))
        return self._send(404, {"detail": "Not Found"})

    def _search(self, query: dict[str, str]) -> None:
        text = query.get("query", "").lower()
        fmt = query.get("format")
        found = [
            _remote(m)
            for m in CATALOGUE
            if text in m.lower() and (fmt is None or fmt in CATALOGUE[m]["format"])
        ]
        found = found[: int(query.get("limit", "20"))]
        self._send(
            200, {"query": query.get("query"), "source": "huggingface", "count": len(found), "results": found}
        )

    def _status(self) -> None:
        models = list(self.state.local.values())
        size = sum(m["size_bytes"] for m in models)
        sources = {"huggingface": {"count": len(models), "size_bytes": size}} if models else {}
        body = {"model_count": len(models), "total_size_bytes": size, "storage_path": str(self.state.storage)}
        self._send(200, {**body, "sources": sources})

    def _download(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length))
            model_id, source = body["model_id"], body.get("source", "huggingface")
        except (ValueError, KeyError, TypeError):
            return self._send(422, {"detail": "body failed validation"})
        if source != "huggingface":
            return self._send(400, {"detail": f"Unknown source: {source}"})
        if model_id not in CATALOGUE:
            return self._send(404, {"detail": f"Model not found: {model_id}"})
        if "broken" in model_id:
            return self._send(500, {"detail": f"Download failed: {model_id}: connection reset"})
        key = f"{source}::{model_id}"
        if key not in self.state.local or body.get("force"):
            folder = self.state.storage / source / model_id
            folder.mkdir(parents=True, exist_ok=True)
            files = CATALOGUE[model_id]["files"]
            for name in files:
                (folder / name).write_bytes(self.state.payload)
            size = len(self.state.payload) * len(files)
            entry = {
                "source": source,
                "model_id": model_id,
                "path": str(folder),
                "size_bytes": size,
                "files": files,
            }
            self.state.local[key] = {
                **entry,
                "downloaded_at": "2026-12-01T00:00:00",
                "last_used": None,
                "metadata": {},
            }
        entry = self.state.local[key]
        keys = ("model_id", "source", "path", "files", "size_bytes")
        self._send(200, {k: entry[k] for k in keys})

    def _delete(self, rest: str) -> None:
        source, _, model_id = rest.partition("/")
        entry = self.state.local.pop(f"{source}::{model_id}", None)
        if entry is None:
            return self._send(404, {"detail": f"Model not found locally: {model_id}"})
        shutil.rmtree(entry["path"], ignore_errors=True)
        self._send(200, {"deleted": True, "model_id": model_id, "source": source})

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")


class DevonServer:
    def __init__(self, state: DevonState) -> None:
        handler = type("Handler", (_Handler,), {"state": state})
        self.state = state
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "DevonServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
