"""Workloads beyond independent prompts: shared prefixes, multi-turn chat sessions, and trace replay.

- `shared_prefix`: N groups of requests that share a long prefix (a system prompt, a document), to show
  what prefix caching buys; `cache_busting: true` puts a unique token first, so no prefix is ever reused.
- `multi_turn`: chat sessions whose history grows every turn (each turn's prompt holds every earlier
  prompt and the engine's own answers), with think time between turns.
- `trace`: arrivals and lengths replayed from a JSONL file of `{timestamp, input_tokens, output_tokens}`
  (the shape of public traces such as BurstGPT or Mooncake; `input_length`/`output_length` are read too),
  timestamps in seconds (`timestamp_unit: ms` for milliseconds), sent at the trace's times (`speed` scales).
"""

import json
import random
from pathlib import Path
from typing import Literal

import msgspec

from kitt.bench import prompts


class SharedPrefix(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag="shared_prefix",
    tag_field="kind",
):
    groups: int = 8
    prefix_tokens: int = 512
    cache_busting: bool = False

    def __post_init__(self) -> None:
        if self.groups < 1 or self.prefix_tokens < 1:
            raise ValueError("shared_prefix needs groups >= 1 and prefix_tokens >= 1")


class MultiTurn(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="multi_turn", tag_field="kind"
):
    sessions: int = 8  # chats in flight at once
    turns: int = 4
    think_time_s: float = 0.0

    def __post_init__(self) -> None:
        if self.sessions < 1 or self.turns < 1 or self.think_time_s < 0:
            raise ValueError("multi_turn needs sessions >= 1, turns >= 1 and think_time_s >= 0")


class Trace(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag="trace", tag_field="kind"
):
    path: str
    speed: float = 1.0  # 2.0 replays twice as fast
    timestamp_unit: Literal["s", "ms"] = "s"

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError("trace speed must be positive")


Workload = SharedPrefix | MultiTurn | Trace


class TraceRequest(msgspec.Struct, frozen=True):
    at: float  # seconds after the trace's first request, at speed 1
    input_tokens: int
    output_tokens: int


class _Line(msgspec.Struct):
    timestamp: float
    input_tokens: int | None = None
    output_tokens: int | None = None
    input_length: int | None = None
    output_length: int | None = None


def read_trace(trace: Trace, limit: int | None = None) -> list[TraceRequest]:
    """The trace's requests in time order, with precise errors (file:line) for a malformed line."""
    path = Path(trace.path).expanduser()
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise prompts.PromptError(f"{path}: cannot read the trace: {exc.strerror}") from None
    scale = 0.001 if trace.timestamp_unit == "ms" else 1.0
    found: list[tuple[float, int, int]] = []
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            line = msgspec.json.decode(text, type=_Line)
        except msgspec.DecodeError as exc:
            raise prompts.PromptError(f"{path}:{number}: {exc}") from None
        inputs = line.input_tokens if line.input_tokens is not None else line.input_length
        outputs = line.output_tokens if line.output_tokens is not None else line.output_length
        if inputs is None or outputs is None or inputs < 1 or outputs < 1:
            raise prompts.PromptError(
                f"{path}:{number}: a trace line needs positive input_tokens and output_tokens"
            )
        found.append((line.timestamp * scale, inputs, outputs))
        if limit is not None and len(found) >= limit:
            break
    if not found:
        raise prompts.PromptError(f"{path}: an empty trace")
    found.sort()
    first = found[0][0]
    return [TraceRequest(at - first, i, o) for at, i, o in found]


def shared_prefix_prompts(workload: SharedPrefix, count: int, input_tokens: int, *, seed: int) -> list[str]:
    """Request i belongs to group i % groups: that group's prefix, then a suffix of its own."""
    rng = random.Random(seed)
    prefixes = [" ".join(prompts.words(rng, workload.prefix_tokens)) for _ in range(workload.groups)]
    suffixes = prompts.synthetic(count, input_tokens, seed=seed + 1)
    out = []
    for i, suffix in enumerate(suffixes):
        head = f"{rng.getrandbits(48):012x} " if workload.cache_busting else ""
        out.append(f"{head}{prefixes[i % workload.groups]}\n{suffix}")
    return out


def turn_prompt(history: str, user: str) -> str:
    """A chat's transcript so far and the next user turn, as one prompt every dialect can carry."""
    return f"{history}User: {user}\nAssistant:"


def dumps_trace(requests: list[TraceRequest]) -> str:
    return "".join(
        json.dumps({"timestamp": r.at, "input_tokens": r.input_tokens, "output_tokens": r.output_tokens})
        + "\n"
        for r in requests
    )
