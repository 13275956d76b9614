"""The three streaming dialects against recordings of the real engines' wire format.

tests/replay.py serves recorded responses over real HTTP/1.1 chunked transfer, one event per chunk, 20 ms
apart. The vLLM recordings were made from the real vLLM 0.32 server (CPU build) by tests/record_vllm.py;
TGI and Ollama cannot run here, so theirs follow their documented formats (each recording names its source).
"""

import itertools
import json

import msgspec
import pytest

from kitt.engines import dialects, httpconn, openai_stream
from tests.replay import ReplayServer, recording

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


def _texts(name: str) -> list[str]:
    """Each recorded event's token text, in order (the role chunk, usage and [DONE] carry none)."""
    texts = []
    for event in recording(name)["chunks"]:
        data = event.removeprefix("data: ").strip()
        if data == "[DONE]":
            continue
        for choice in json.loads(data)["choices"]:
            if "text" in choice:
                texts.append(choice["text"])
            elif "role" not in choice["delta"]:
                texts.append(choice["delta"]["content"])
    return texts


VLLM = dialects.OpenAI(min_tokens=True, chunk_per_token=True)


async def test_vllm_completions_stream_with_usage():
    gen, sent = await _generate("vllm_completions", VLLM, REQUEST)
    texts = _texts("vllm_completions")
    assert gen.text == "".join(texts)
    assert (gen.output_tokens, gen.prompt_tokens, gen.token_source) == (7, 17, "usage")
    # vLLM sends a chunk per token, "" while a token's bytes make no character yet, the last with the
    # finish reason: each is a token's arrival.
    assert len(texts) == 7 and "" in texts and len(gen.chunk_times) == 7
    # Each chunk was stamped when it arrived: the recorded 20 ms spacing is visible.
    assert all(gap > GAP * 0.5 for gap in _gaps(gen.chunk_times))
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["ignore_eos"] is True and sent["min_tokens"] == 7


async def test_vllm_chat_stream_skips_the_role_chunk_and_times_every_token():
    request = msgspec.structs.replace(REQUEST, chat=True)
    gen, sent = await _generate("vllm_chat", VLLM, request)
    assert gen.text == "".join(_texts("vllm_chat"))
    assert len(gen.chunk_times) == 7 and gen.output_tokens == 7 and gen.prompt_tokens == 42
    assert sent["messages"] == [{"role": "user", "content": "The capital of France"}]


async def test_only_chunks_with_text_are_tokens_for_an_engine_that_may_close_with_an_empty_one():
    # llama.cpp's last chunk has "" text and a finish reason but is no token: there only text counts.
    gen, _ = await _generate("vllm_completions", dialects.OpenAI(min_tokens=True), REQUEST)
    assert len(gen.chunk_times) == len([t for t in _texts("vllm_completions") if t]) < 7
    assert gen.output_tokens == 7  # the usage chunk still says how many there were


async def test_a_bare_finish_delta_and_the_role_delta_are_no_tokens():
    chunk = 'data: {"choices":[{"index":0,"delta":{%s},"finish_reason":%s}]}\n\n'
    for delta, finish in (('"role":"assistant","content":""', "null"), ("", '"stop"')):
        decoded = VLLM.decode(chunk.encode() % (delta.encode(), finish.encode()))
        assert decoded is not None and decoded.tokens == 0 and decoded.text == ""


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
    gen = dialects.decode_stream(VLLM, response)
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


def _body(name: str) -> bytes:
    return b"".join(
        f"{event}\n\n".encode() if not event.endswith("\n\n") else event.encode()
        for event in recording(name)["chunks"]
    )


def _cut(body: bytes, cuts: list[int]) -> httpconn.Response:
    """The body as reads that ended at `cuts`, the k-th read at time k."""
    edges = [0, *sorted(set(cuts)), len(body)]
    pieces = [(float(k), body[a:b]) for k, (a, b) in enumerate(itertools.pairwise(edges)) if b > a]
    return httpconn.Response(status=200, headers={}, sent_at=0.0, pieces=pieces, ended_at=99.0)


ODD_STREAMS = {
    "crlf": b'data: {"choices":[{"text":"a"}]}\r\n\r\ndata: [DONE]\r\n\r\n',
    "comment": b': keep-alive\n\ndata: {"choices":[{"text":"a"}]}\n\ndata: [DONE]\n\n',
    "two data lines": b'data: {"choices":\ndata: [{"text":"a"}]}\n\ndata: [DONE]\n\n',
    "early done": b'data: {"choices":[{"text":"a"}]}\n\ndata: [DONE]\n\ndata: {"choices":[{"text":"b"}]}\n\n',
    "error event": b'data: {"choices":[{"text":"a"}]}\n\ndata: {"error":{"message":"out of memory"}}\n\n',
    "unterminated": b'data: {"choices":[{"text":"a"}]}\n\ndata: {"choices":[{"text":"b"}]}',
    "malformed": b'data: {"choices":[{"text":"a"}]}\n\ndata: {"choices":[{"text":\n\n',
    "wrong type": b'data: {"choices":[{"text":"a"}],"usage":{"prompt_tokens":"x"}}\n\n',
}


@pytest.mark.parametrize("name", ["vllm_completions", "vllm_chat", "openai_malformed"])
@pytest.mark.parametrize("per_token", [True, False])
def test_the_one_pass_decode_equals_the_event_by_event_one_for_any_reads(name, per_token):
    """The load generator's fast path (kitt.engines.openai_stream) and the careful one give the same
    Generation — token times, text, counts, errors — however the body was cut into reads."""
    dialect = dialects.OpenAI(chunk_per_token=per_token)
    body = _body(name)
    cuts = [
        [],
        *([c] for c in range(1, len(body), 7)),
        *(sorted(range(s, len(body), 23)) for s in range(1, 23)),
    ]
    plain = 0
    for cut in cuts:
        response = _cut(body, cut)
        assert dialects.decode_stream(dialect, response) == dialects.decode_events(dialect, response), cut
        plain += openai_stream.decode(response.pieces, chunk_per_token=per_token) is not None
    # the recordings of the real server take the fast path; the broken one never does
    assert plain == (0 if name == "openai_malformed" else len(cuts))


@pytest.mark.parametrize("name", list(ODD_STREAMS))
def test_streams_that_are_not_plain_take_the_careful_path_with_the_same_answer(name):
    body = ODD_STREAMS[name]
    for cut in ([], [len(body) // 2], list(range(1, len(body), 5))):
        response = _cut(body, cut)
        assert openai_stream.decode(response.pieces, chunk_per_token=True) is None
        for dialect in (dialects.OpenAI(), dialects.OpenAI(chunk_per_token=True)):
            assert dialects.decode_stream(dialect, response) == dialects.decode_events(dialect, response)
