"""The three streaming APIs engines speak, reduced to one stream of timed chunks.

A dialect builds a request body once (the load generator sends it many times) and decodes one framed
event of the response. `decode_stream` turns a finished `Response` into `Generation`: the arrival time of
every token-bearing chunk, the token counts (from the server's usage report when it sends one, otherwise
counted), and any server-side timings the engine reports.
"""

from typing import Literal, Protocol

import msgspec

from kitt.engines import httpconn, openai_stream
from kitt.engines.specs import Dialect as DialectName

TokenSource = Literal["usage", "count"]


class GenRequest(msgspec.Struct, frozen=True, kw_only=True):
    model: str
    prompt: str
    max_tokens: int
    force_length: bool = False  # ask the engine not to stop early (ignore_eos / min_tokens)
    chat: bool = False
    temperature: float = 0.0


class Chunk(msgspec.Struct, frozen=True, kw_only=True):
    text: str = ""
    tokens: int = 0  # tokens this chunk carries (0 for role/usage-only chunks)
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    timings: dict[str, float] | None = None
    done: bool = False
    error: str | None = None


class Generation(msgspec.Struct, kw_only=True):
    chunk_times: list[float]  # perf_counter of each token-bearing chunk
    text: str
    output_tokens: int
    prompt_tokens: int | None
    token_source: TokenSource
    timings: dict[str, float] | None = None
    error: str | None = None


class Dialect(Protocol):
    name: DialectName
    delimiter: bytes  # what separates framed events in the body

    def path(self, request: GenRequest) -> str: ...

    def body(self, request: GenRequest) -> bytes: ...

    def decode(self, frame: bytes) -> Chunk | None: ...


class StreamError(ValueError):
    """A frame the dialect cannot decode."""


# --- OpenAI-compatible SSE -------------------------------------------------------------------------------


class OpenAI:
    name: DialectName = "openai"
    delimiter = b"\n\n"
    _decoder = msgspec.json.Decoder(openai_stream.Event)

    def __init__(
        self, *, streams_usage: bool = True, min_tokens: bool = False, chunk_per_token: bool = False
    ) -> None:
        self.streams_usage = streams_usage
        self.min_tokens = min_tokens
        # vLLM sends one chunk per token, its text "" while a token's bytes make no character yet (and the
        # last token with finish_reason): each such chunk is a token's arrival. Others may send an empty
        # closing chunk, so there only a chunk with text is.
        self.chunk_per_token = chunk_per_token

    def path(self, request: GenRequest) -> str:
        return "/v1/chat/completions" if request.chat else "/v1/completions"

    def body(self, request: GenRequest) -> bytes:
        payload: dict[str, object] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
        }
        if request.chat:
            payload["messages"] = [{"role": "user", "content": request.prompt}]
        else:
            payload["prompt"] = request.prompt
        if self.streams_usage:
            payload["stream_options"] = {"include_usage": True}
        if request.force_length and self.min_tokens:
            payload["ignore_eos"] = True
            payload["min_tokens"] = request.max_tokens
        return msgspec.json.encode(payload)

    def decode(self, frame: bytes) -> Chunk | None:
        data = _sse_data(frame)
        if data is None:
            return None
        if data == b"[DONE]":
            return Chunk(done=True)
        try:
            chunk = self._decoder.decode(data)
        except msgspec.DecodeError as exc:
            raise StreamError(f"malformed SSE event {data[:80]!r}: {exc}") from None
        if chunk.error is not None:
            return Chunk(error=_error_text(chunk.error), done=True)
        text = ""
        tokens = 0
        for choice in chunk.choices:
            piece = choice.piece()
            if piece is None:
                continue
            text += piece
            tokens += 1 if piece or self.chunk_per_token else 0
        usage = chunk.usage
        return Chunk(
            text=text,
            tokens=tokens,
            prompt_tokens=usage.prompt_tokens if usage else None,
            output_tokens=usage.completion_tokens if usage else None,
            timings=chunk.timings,
        )


# --- TGI /generate_stream -------------------------------------------------------------------------------


class _TgiToken(msgspec.Struct):
    text: str = ""
    special: bool = False


class _TgiDetails(msgspec.Struct):
    generated_tokens: int | None = None
    finish_reason: str | None = None


class _TgiChunk(msgspec.Struct):
    token: _TgiToken | None = None
    generated_text: str | None = None
    details: _TgiDetails | None = None
    error: str | None = None


class Tgi:
    name: DialectName = "tgi"
    delimiter = b"\n\n"
    _decoder = msgspec.json.Decoder(_TgiChunk)

    def path(self, request: GenRequest) -> str:
        return "/generate_stream"

    def body(self, request: GenRequest) -> bytes:
        parameters: dict[str, object] = {"max_new_tokens": request.max_tokens, "details": True}
        if request.temperature > 0:
            parameters |= {"do_sample": True, "temperature": request.temperature}
        return msgspec.json.encode({"inputs": request.prompt, "parameters": parameters})

    def decode(self, frame: bytes) -> Chunk | None:
        data = _sse_data(frame)
        if data is None:
            return None
        try:
            chunk = self._decoder.decode(data)
        except msgspec.DecodeError as exc:
            raise StreamError(f"malformed SSE event {data[:80]!r}: {exc}") from None
        if chunk.error is not None:
            return Chunk(error=chunk.error, done=True)
        token = chunk.token
        text = token.text if token is not None and not token.special else ""
        details = chunk.details
        return Chunk(
            text=text,
            tokens=1 if token is not None and not token.special else 0,
            output_tokens=details.generated_tokens if details else None,
            done=chunk.generated_text is not None,
        )


# --- Ollama /api/generate NDJSON -------------------------------------------------------------------------


class _OllamaChunk(msgspec.Struct):
    response: str = ""
    done: bool = False
    error: str | None = None
    prompt_eval_count: int | None = None
    eval_count: int | None = None
    total_duration: int | None = None
    load_duration: int | None = None
    prompt_eval_duration: int | None = None
    eval_duration: int | None = None


class Ollama:
    name: DialectName = "ollama"
    delimiter = b"\n"
    _decoder = msgspec.json.Decoder(_OllamaChunk)

    def path(self, request: GenRequest) -> str:
        return "/api/generate"

    def body(self, request: GenRequest) -> bytes:
        options = {"num_predict": request.max_tokens, "temperature": request.temperature}
        return msgspec.json.encode(
            {"model": request.model, "prompt": request.prompt, "stream": True, "options": options}
        )

    def decode(self, frame: bytes) -> Chunk | None:
        if not frame.strip():
            return None
        try:
            chunk = self._decoder.decode(frame)
        except msgspec.DecodeError as exc:
            raise StreamError(f"malformed NDJSON line {frame[:80]!r}: {exc}") from None
        if chunk.error is not None:
            return Chunk(error=chunk.error, done=True)
        timings = None
        if chunk.done:
            # Ollama reports durations in nanoseconds; keep them, in milliseconds, as server-side truth.
            raw = {
                "total_ms": chunk.total_duration,
                "load_ms": chunk.load_duration,
                "prompt_eval_ms": chunk.prompt_eval_duration,
                "eval_ms": chunk.eval_duration,
            }
            timings = {k: v / 1e6 for k, v in raw.items() if v is not None}
        return Chunk(
            text=chunk.response,
            tokens=1 if chunk.response else 0,
            prompt_tokens=chunk.prompt_eval_count,
            output_tokens=chunk.eval_count,
            timings=timings,
            done=chunk.done,
        )


def _sse_data(frame: bytes) -> bytes | None:
    if frame.startswith(b"data: ") and b"\n" not in frame:  # nearly every event: one data line
        return frame[6:].lstrip(b" ")
    data = [line[5:].lstrip(b" ") for line in frame.split(b"\n") if line.startswith(b"data:")]
    return b"\n".join(data) if data else None


def _error_text(error: dict[str, object] | str) -> str:
    if isinstance(error, str):
        return error
    return str(error.get("message") or error)


def for_engine(
    dialect: DialectName,
    *,
    streams_usage: bool = True,
    min_tokens: bool = False,
    chunk_per_token: bool = False,
) -> Dialect:
    if dialect == "openai":
        return OpenAI(streams_usage=streams_usage, min_tokens=min_tokens, chunk_per_token=chunk_per_token)
    if dialect == "tgi":
        return Tgi()
    return Ollama()


def decode_stream(dialect: Dialect, response: httpconn.Response) -> Generation:
    """Everything a benchmark needs from one finished streaming response."""
    if response.status == 0:
        return _failed(response.error or "no HTTP response")
    if response.status != 200:
        snippet = response.body()[:200].decode("utf-8", "replace").strip()
        return _failed(f"HTTP {response.status}: {snippet}")
    if isinstance(dialect, OpenAI) and response.error is None:
        plain = openai_stream.decode(response.pieces, chunk_per_token=dialect.chunk_per_token)
        if plain is not None:
            return Generation(
                chunk_times=plain.times,
                text=plain.text,
                output_tokens=plain.output_tokens if plain.output_tokens is not None else plain.counted,
                prompt_tokens=plain.prompt_tokens,
                token_source="usage" if plain.output_tokens is not None else "count",
                timings=plain.timings,
            )
    return decode_events(dialect, response)


def decode_events(dialect: Dialect, response: httpconn.Response) -> Generation:
    """`decode_stream` event by event: every stream that is not plain, and every failure, goes this way."""
    if response.status != 200:
        return decode_stream(dialect, response)
    times: list[float] = []
    parts: list[str] = []
    counted = 0
    prompt_tokens = output_tokens = None
    timings = None
    try:
        for t, frame in httpconn.frames(response.pieces, dialect.delimiter):
            chunk = dialect.decode(frame)
            if chunk is None:
                continue
            if chunk.error is not None:
                return _failed(f"server error in stream: {chunk.error}", times, "".join(parts))
            if chunk.tokens:
                times.append(t)
                parts.append(chunk.text)
                counted += chunk.tokens
            prompt_tokens = chunk.prompt_tokens if chunk.prompt_tokens is not None else prompt_tokens
            output_tokens = chunk.output_tokens if chunk.output_tokens is not None else output_tokens
            timings = chunk.timings or timings
    except StreamError as exc:
        return _failed(str(exc), times, "".join(parts))
    if response.error is not None:
        return _failed(response.error, times, "".join(parts))
    source: TokenSource = "usage" if output_tokens is not None else "count"
    return Generation(
        chunk_times=times,
        text="".join(parts),
        output_tokens=output_tokens if output_tokens is not None else counted,
        prompt_tokens=prompt_tokens,
        token_source=source,
        timings=timings,
    )


def _failed(reason: str, times: list[float] | None = None, text: str = "") -> Generation:
    return Generation(
        chunk_times=times or [],
        text=text,
        output_tokens=len(times or []),
        prompt_tokens=None,
        token_source="count",
        error=reason,
    )
