"""Schemathesis against the served OpenAPI schema (/schema/openapi.json): generated requests to every API
operation, a bounded number each, with the admin token; no answer may be a server error (5xx). It runs the
`st` CLI against the API served by uvicorn in the runtime's loop, on both databases."""

import asyncio
import re
import sys
from pathlib import Path

import pytest

from tests.apiserver import TOKEN, app_for, server_for

pytestmark = pytest.mark.slow  # a fuzzing run of every operation

ST = [sys.executable, str(Path(__file__).with_name("schemathesis_cli.py"))]  # `st`, thread-safe on 3.11


async def test_generated_requests_never_get_a_server_error(runtime):
    server = server_for(app_for(runtime, token=TOKEN))
    await server.start()
    try:
        process = await asyncio.create_subprocess_exec(
            *ST,
            "run",
            f"{server.url}/schema/openapi.json",
            "--checks",
            "not_a_server_error",
            "--workers",
            "4",  # requests wait on commands and projections, not on the CPU
            "--max-examples",
            "15",
            "--seed",
            "20261130",
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--request-timeout",
            "20",
            "--exclude-path",
            "/api/v1/agent/package",  # rebuilds the agent wheel per request: its own test covers it
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), 600)
    finally:
        await server.stop()
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-6000:]
    assert re.search(r"\b[1-9][0-9]* passed", text) and " failed" not in text, text[-3000:]
