"""The three streaming dialects against recordings of the real engines' wire format.

vLLM, TGI and Ollama cannot run here: tests/replay.py serves recorded responses (each recording names
the documented format it follows) over real HTTP/1.1 chunked transfer, one event per chunk, 20 ms apart.
"""

import itertools

import msgspec
import pytest

from kitt.engines import dialects, httpconn
from tests.replay import ReplayServer

GAP = 0.02


async def _generate(
    name: str, dialect: dialects.Dialect, request: dialects.GenRequest
) -> tuple[dialects.Generation, dict]:
    async with ReplayServer(name, gap_s=GAP) as server:
        conn = await httpconn.Connection.open("127.0.0.1", server.port)
        raw = httpconn.build_request(
            "127.0.0.1", server.port, "POST", dialect.path(request), dialect.body(request)
        )
        response = await conn.request(raw)
        conn.close()
        assert server.requests[0][0] == dialect.path(request)
        sent = msgspec.json.decode(server.requests[0][1])
        return dialects.decode_stream(dialect, response), sent


def _gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


REQUEST = dialects.GenRequest(model="m", prompt="The capital of France", max_tokens=7, force_length=True)


async def test_vllm_completions_stream_with_usage():
    gen, sent = await _generate("vllm_completions", dialects.OpenAI(min_tokens=True), REQUEST)
    assert gen.text == " Paris is the capital of France."
    assert (gen.output_tokens, gen.prompt_tokens, gen.token_source) == (7, 9, "usage")
    assert len(gen.chunk_times) == 7
    # Each chunk was stamped when it arrived: the recorded 20 ms spacing is visible.
    assert all(gap > GAP * 0.5 for gap in _gaps(gen.chunk_times))
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["ignore_eos"] is True and sent["min_tokens"] == 7


async def test_vllm_chat_stream_skips_role_and_finish_chunks():
    request = msgspec.structs.replace(REQUEST, chat=True)
    gen, sent = await _generate("vllm_chat", dialects.OpenAI(), request)
    assert gen.text == "Hello! How can I help?"
    assert len(gen.chunk_times) == 7 and gen.output_tokens == 7 and gen.prompt_tokens == 12
    assert sent["messages"] == [{"role": "user", "content": "The capital of France"}]


async def test_tgi_generate_stream_counts_special_tokens_out():
    gen, sent = await _generate("tgi_generate_stream", dialects.Tgi(), REQUEST)
    assert gen.text == " Deep learning is a subset"
    assert len(gen.chunk_times) == 5  # the </s> special token carries no text
    assert (gen.output_tokens, gen.token_source) == (6, "usage")  # details.generated_tokens
    assert sent == {"inputs": "The capital of France", "parameters": {"max_new_tokens": 7, "details": True}}


async def test_tgi_error_event_fails_the_request():
    gen, _sent = await _generate("tgi_error", dialects.Tgi(), REQUEST)
    assert gen.error is not None and "Out of available cache blocks" in gen.error
    assert len(gen.chunk_times) == 1


async def test_ollama_ndjson_keeps_server_timings():
    gen, sent = await _generate("ollama_generate", dialects.Ollama(), REQUEST)
    assert gen.text == "The sky is blue."
    assert (gen.output_tokens, gen.prompt_tokens, gen.token_source) == (5, 26, "usage")
    assert gen.timings == pytest.approx(
        {"total_ms": 10706.818083, "load_ms": 6338.219291, "prompt_eval_ms": 130.079, "eval_ms": 4232.71}
    )
    assert sent["options"]["num_predict"] == 7


async def test_token_counts_fall_back_to_chunks_and_say_so():
    # The same vLLM stream without its usage chunk, as an engine that ignores include_usage sends it.
    async with ReplayServer("vllm_completions", gap_s=0) as server:
        server.record["chunks"] = [c for c in server.record["chunks"] if '"usage":{' not in c]
        response = await httpconn.fetch("127.0.0.1", server.port, "POST", "/v1/completions", b"{}")
    gen = dialects.decode_stream(dialects.OpenAI(), response)
    assert (gen.output_tokens, gen.prompt_tokens, gen.token_source) == (7, None, "count")


async def test_http_errors_and_malformed_events_are_errors_not_tokens():
    gen, _ = await _generate("openai_http_error", dialects.OpenAI(), REQUEST)
    assert (
        gen.error is not None and gen.error.startswith("HTTP 400: ") and "maximum context length" in gen.error
    )
    gen, _sent = await _generate("openai_malformed", dialects.OpenAI(), REQUEST)
    assert gen.error is not None and gen.error.startswith("malformed SSE event")
    assert len(gen.chunk_times) == 1  # what arrived before the broken event is kept


def test_chunked_decoder_handles_any_split():
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (b"data: a\n\n", b"data: bb\n\n")) + b"0\r\n\r\n"
    for cut in range(1, len(body)):
        decoder, out = httpconn._Chunked(), []
        decoder.feed(body[:cut], 1.0, out)
        decoder.feed(body[cut:], 2.0, out)
        assert b"".join(p for _, p in out) == b"data: a\n\ndata: bb\n\n" and decoder.done
    with pytest.raises(httpconn.HttpError, match="malformed chunk size"):
        httpconn._Chunked().feed(b"zz\r\n", 0.0, [])
