"""Re-record the vLLM recordings the fast tests replay (tests/recordings/vllm_*.json) from the real server.

    python -m tests.record_vllm [--engines-dir DIR] [--out DIR]

Starts the real vLLM (the CPU build KITT installed with `kitt engines setup vllm --runtime native`; the
folder is KITT_ENGINES_DIR's, or DIR) on the tiny Hugging Face model through KITT's own native runtime,
sends the requests tests/test_dialects.py sends — a streaming completion forced to 7 tokens, and a
streaming chat completion of 7 tokens, both asking for usage — and writes each response's SSE events as
they arrived, byte for byte, with where they came from.
"""

import argparse
import asyncio
import json
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from kitt.children import free_port
from kitt.engines import dialects, envs, httpconn
from kitt.engines.native import NativeRuntime
from kitt.engines.runtime import Launch
from kitt.engines.specs import get as get_spec
from kitt.models import tiny_hf

RECORDINGS = Path(__file__).parent / "recordings"
MODEL = "tiny-llama"
REQUEST = dialects.GenRequest(model=MODEL, prompt="The capital of France", max_tokens=7, force_length=True)


def _events(body: bytes) -> list[str]:
    return [frame.decode() + "\n\n" for frame in body.split(b"\n\n") if frame.strip()]


async def _record(port: int, request: dialects.GenRequest, dialect: dialects.OpenAI) -> tuple[int, list[str]]:
    raw = httpconn.build_request("127.0.0.1", port, "POST", dialect.path(request), dialect.body(request))
    conn = await httpconn.Connection.open("127.0.0.1", port)
    try:
        response = await conn.request(raw)
    finally:
        conn.close()
    return response.status, _events(response.body())


async def record(engines_dir: Path | None, out: Path = RECORDINGS) -> list[Path]:
    env = envs.installed("vllm", engines_dir)
    if env is None:
        raise SystemExit("no vLLM environment: run `kitt engines setup vllm --runtime native` first")
    if engines_dir is not None:
        os.environ["KITT_ENGINES_DIR"] = str(engines_dir)
    runtime = NativeRuntime()
    written = []
    with tempfile.TemporaryDirectory() as folder:
        model = tiny_hf.write(Path(folder) / MODEL)
        launch = Launch(spec=get_spec("vllm"), model_path=str(model), served_name=MODEL, port=free_port())

        async def quiet(_line: str) -> None:
            return None

        started = await runtime.start(launch, quiet)
        try:
            when = datetime.now(UTC).date().isoformat()
            for name, request, dialect, what in (
                ("vllm_completions", REQUEST, dialects.OpenAI(min_tokens=True), "POST /v1/completions"),
                (
                    "vllm_chat",
                    msgspec.structs.replace(REQUEST, chat=True),
                    dialects.OpenAI(),
                    "POST /v1/chat/completions",
                ),
            ):
                status, events = await _record(started.endpoint.port, request, dialect)
                source = (
                    f"recorded from the real vLLM {started.version} server by tests/record_vllm.py "
                    f"on {when}: "
                    f"{what} streaming with stream_options.include_usage, {request.max_tokens} tokens, "
                    "on KITT's tiny random-weight Llama (so the text is noise)"
                )
                path = out / f"{name}.json"
                record = {"source": source, "status": status, "content_type": "text/event-stream"}
                path.write_text(json.dumps(record | {"chunks": events}, indent=2, ensure_ascii=False) + "\n")
                written.append(path)
        finally:
            await runtime.stop()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=RECORDINGS, help="where to write (tests/recordings)")
    args = parser.parse_args()
    for path in asyncio.run(record(args.engines_dir, args.out)):
        print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
