"""Runs the evaluation worker as a child process with a deadline, relaying its progress and log lines.

A worker that hangs past its timeout, crashes, or exits non-zero becomes a `QualityError` whose message
says which and quotes its last lines; the runtime itself is never at risk. Cancelling stops the worker's
whole process group.
"""

import asyncio
import contextlib
import re
import sys
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec

from kitt.bench.quality.job import CANNOT_FIT, Evaluation, Job
from kitt.children import die_with_parent, stop_group

STOP_GRACE_S = 5.0
_PROGRESS = re.compile(r"(\d+)/(\d+) \[")
LineSink = Callable[[str], Awaitable[None]]
ProgressSink = Callable[[int, int], None]


class QualityError(Exception):
    """The evaluation could not produce a result; the message is the benchmark's failure reason."""


# lm-eval logs the server's answer before raising a bare "400 Client Error": keep the answer.
_REFUSED = re.compile(
    r"API request failed(?:! Status code: (?P<status>\d+),| with error message:)\s*(?:Response text: )?"
    r"(?P<body>.*?)\.? Retrying\.\.\.$"
)


class _Tail:
    """The worker's last lines, and what the server last said when it refused a request."""

    def __init__(self, size: int = 12) -> None:
        self.lines: deque[str] = deque(maxlen=size)
        self.refusal: str | None = None
        self.cannot_fit: str | None = None

    def add(self, line: str) -> None:
        self.lines.append(line)
        if line.startswith(CANNOT_FIT):
            self.cannot_fit = line.removeprefix("kitt: ")
        found = _REFUSED.search(line)
        if found:
            status = f"HTTP {found.group('status')}: " if found.group("status") else ""
            self.refusal = f"{status}{found.group('body').strip()[:500]}"


async def _relay(
    stream: asyncio.StreamReader, on_line: LineSink, on_progress: ProgressSink, tail: _Tail
) -> None:
    """Split on CR and LF (tqdm redraws with CR): progress bars feed `on_progress`, the rest are log lines."""
    pending = b""
    while chunk := await stream.read(65536):
        pending += chunk
        *lines, pending = re.split(rb"[\r\n]", pending)
        for raw in lines:
            line = raw.decode(errors="replace").rstrip()
            if not line:
                continue
            found = _PROGRESS.search(line)
            if found and "|" in line:
                on_progress(int(found.group(1)), int(found.group(2)))
                continue
            tail.add(line)
            await on_line(line)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


async def evaluate(
    job: Job,
    *,
    timeout_s: float,
    on_line: LineSink,
    on_progress: ProgressSink,
    python: str = sys.executable,
) -> Evaluation:
    output = Path(job.output)
    await asyncio.to_thread(output.unlink, missing_ok=True)
    process = await asyncio.create_subprocess_exec(
        python,
        "-m",
        "kitt.bench.quality.worker",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        preexec_fn=die_with_parent,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(msgspec.json.encode(job))
    process.stdin.close()
    tail = _Tail()
    relay = asyncio.create_task(_relay(process.stdout, on_line, on_progress, tail))
    try:
        async with asyncio.timeout(timeout_s):  # not wait_for: it can lose a cancel (kitt/cancelling.py)
            await process.wait()
    except TimeoutError:
        await stop_group(process, STOP_GRACE_S)
        raise QualityError(f"lm-eval did not finish within {timeout_s:g} s and was stopped") from None
    finally:
        await stop_group(
            process, STOP_GRACE_S
        )  # cancelled or timed out: the worker never outlives its benchmark
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(relay, 2)
    raw = await asyncio.to_thread(_read, output)
    if process.returncode != 0 or raw is None:
        how = (
            f"was killed by signal {-(process.returncode or 0)}"
            if (process.returncode or 0) < 0
            else (f"exited with status {process.returncode}")
        )
        if tail.cannot_fit is not None:
            raise QualityError(tail.cannot_fit)
        if tail.refusal is not None:
            raise QualityError(f"lm-eval {how}: the engine refused a request: {tail.refusal}")
        lines = "\n  ".join(tail.lines) or "(no output)"
        raise QualityError(f"lm-eval {how}; its last lines:\n  {lines}")
    try:
        return msgspec.json.decode(raw, type=Evaluation)
    except msgspec.DecodeError as exc:
        raise QualityError(f"lm-eval's results could not be read: {exc}") from None
