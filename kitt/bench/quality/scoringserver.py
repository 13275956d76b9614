"""A test server that speaks the scoring contracts of vLLM (default) or TGI (`--flavor tgi`). It is neither.

vLLM flavor, written to vLLM's documented OpenAI-compatible response schema: `POST /v1/completions` with
`echo` returns the prompt's tokens with their logprobs (the first is null, as vLLM's is) followed by the
generated ones, each position's `top_logprobs` holding the top-k and the actual token; `POST /tokenize`,
`POST /detokenize` and `GET /tokenizer_info` are vLLM's tokenizer endpoints, which lm-eval's remote
tokenizer uses (they also take and give llama.cpp's `content` field, for `--no-echo`). `--no-echo` makes
it ignore `echo` the way llama.cpp's server does.

TGI flavor, written to TGI's documented schema: `POST /tokenize` (`{"inputs"}` → `[{id, text, start,
stop}]`, a BOS token first), `POST /generate` with `details` and `decoder_input_details` (the prefill: every
input token with its logprob, null for BOS), `GET /info`; its `/v1/completions` ignores `echo`, as TGI's does.

The "model" is deterministic: byte-level tokens scored from a fixed table by a rolling hash of the prefix,
so two evaluations of the same data score identically, and a continuation scores the same in both flavors.
Run with `python -m kitt.bench.quality.scoringserver --port P [--flavor tgi] [--no-echo]`.
"""

import argparse
import math
import signal
from collections.abc import Iterator

from aiohttp import web

SPECIALS = ("<unk>", "<s>", "</s>")
VOCAB = 256 + len(SPECIALS)
_PRINTABLE = range(32 + len(SPECIALS), 127 + len(SPECIALS))


def encode(text: str) -> list[int]:
    return [b + len(SPECIALS) for b in text.encode()]


def decode(tokens: list[int]) -> str:
    return bytes(t - len(SPECIALS) for t in tokens if t >= len(SPECIALS)).decode(errors="replace")


def _piece(token: int) -> str:
    return SPECIALS[token] if token < len(SPECIALS) else decode([token])


def _table() -> list[list[float]]:
    """logprob[row][next] from fixed pseudo-random logits, normalised per row."""
    rows = []
    for prev in range(VOCAB):
        logits = [((prev * 7919 + nxt * 104729) % 1009) / 120.0 for nxt in range(VOCAB)]
        top = max(logits)
        norm = top + math.log(sum(math.exp(x - top) for x in logits))
        rows.append([x - norm for x in logits])
    return rows


LOGPROB = _table()
GREEDY = [max(_PRINTABLE, key=row.__getitem__) for row in LOGPROB]  # readable generations
RANKED = [sorted(range(VOCAB), key=row.__getitem__, reverse=True)[:20] for row in LOGPROB]


def _top(row: int, k: int, actual: int) -> dict[str, float]:
    return {_piece(t): LOGPROB[row][t] for t in {*RANKED[row][:k], actual}}


def _prompts(prompt: object) -> Iterator[list[int]]:
    if isinstance(prompt, str):
        yield encode(prompt)
    elif isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt):
        yield [int(t) for t in prompt]
    elif isinstance(prompt, list):
        for one in prompt:
            yield from _prompts(one)
    else:
        raise ValueError("prompt must be a string, a list of token ids, or a list of either")


def _step(state: int, token: int) -> int:
    return (state * 31 + token) % 1_000_003


def _rows(tokens: list[int]) -> list[int]:
    """The table row each position is scored with: a rolling hash of everything before it."""
    rows, state = [], 1
    for token in tokens:
        rows.append(state % VOCAB)
        state = _step(state, token)
    return rows


def _generate(tokens: list[int], count: int, stop: list[str]) -> list[int]:
    out: list[int] = []
    state = 1
    for token in tokens:
        state = _step(state, token)
    for _ in range(count):
        out.append(GREEDY[state % VOCAB])
        state = _step(state, out[-1])
        text = decode(out)
        if any(s and s in text for s in stop):
            break
    return out


def _choice(index: int, tokens: list[int], body: dict[str, object], echo: bool) -> dict[str, object]:
    asked = body.get("stop") or []
    stop = [asked] if isinstance(asked, str) else [str(s) for s in asked] if isinstance(asked, list) else []
    limit = body.get("max_tokens")
    generated = _generate(tokens, limit if isinstance(limit, int) else 16, stop)
    text = decode(generated)
    for s in stop:
        if s and s in text:
            text = text[: text.index(s)]
    shown = (tokens + generated) if echo else generated
    choice: dict[str, object] = {"index": index, "text": (decode(tokens) if echo else "") + text}
    k = body.get("logprobs")
    if isinstance(k, int) and not isinstance(k, bool):
        start = 0 if echo else len(tokens)
        context = tokens + generated
        rows = _rows(context)
        positions = range(start, start + len(shown))
        choice["logprobs"] = {
            "tokens": [_piece(t) for t in shown],
            "token_logprobs": [None if i == 0 else LOGPROB[rows[i]][context[i]] for i in positions],
            "top_logprobs": [None if i == 0 else _top(rows[i], k, context[i]) for i in positions],
            "text_offset": list(range(len(shown))),
        }
    choice["finish_reason"] = "length"
    return choice


def _tgi_tokens(text: str) -> list[dict[str, object]]:
    tokens: list[dict[str, object]] = [{"id": 1, "text": "<s>", "start": 0, "stop": 0}]
    offset = 0
    for token in encode(text):
        piece = decode([token])
        tokens.append({"id": token, "text": piece, "start": offset, "stop": offset + len(piece)})
        offset += len(piece)
    return tokens


def _tgi_routes(application: web.Application) -> None:
    async def tokenize(request: web.Request) -> web.Response:
        return web.json_response(_tgi_tokens((await request.json()).get("inputs", "")))

    async def generate(request: web.Request) -> web.Response:
        body = await request.json()
        tokens = encode(body.get("inputs", ""))
        parameters = body.get("parameters") or {}
        generated = _generate(
            tokens, int(parameters.get("max_new_tokens") or 20), parameters.get("stop") or []
        )
        answer: dict[str, object] = {"generated_text": decode(generated)}
        if parameters.get("details"):
            rows = _rows(tokens)
            prefill = [{"id": 1, "text": "<s>", "logprob": None}]
            if parameters.get("decoder_input_details"):
                prefill += [
                    {"id": t, "text": decode([t]), "logprob": LOGPROB[row][t]}
                    for t, row in zip(tokens, rows, strict=True)
                ]
            answer["details"] = {
                "finish_reason": "length",
                "generated_tokens": len(generated),
                "seed": None,
                "prefill": prefill if parameters.get("decoder_input_details") else [],
                "tokens": [
                    {"id": t, "text": decode([t]), "logprob": None, "special": False} for t in generated
                ],
            }
        return web.json_response(answer)

    async def info(_: web.Request) -> web.Response:
        return web.json_response({"model_id": "stub", "version": "2.4.0", "max_input_tokens": 4096})

    application.router.add_post("/tokenize", tokenize)
    application.router.add_post("/generate", generate)
    application.router.add_get("/info", info)


def app(echo: bool = True, flavor: str = "vllm") -> web.Application:
    async def completions(request: web.Request) -> web.Response:
        body = await request.json()
        try:
            prompts = list(_prompts(body.get("prompt")))
        except ValueError as exc:
            return web.json_response({"object": "error", "message": str(exc)}, status=400)
        wants_echo = bool(body.get("echo")) and echo
        choices = [_choice(i, p, body, wants_echo) for i, p in enumerate(prompts)]
        prompt_tokens = sum(len(p) for p in prompts)
        return web.json_response(
            {
                "id": "cmpl-stub",
                "object": "text_completion",
                "model": body.get("model"),
                "choices": choices,
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": 0,
                    "total_tokens": prompt_tokens,
                },
            }
        )

    async def tokenize(request: web.Request) -> web.Response:
        body = await request.json()
        tokens = encode(body.get("prompt", body.get("content", "")))  # vLLM's field, or llama.cpp's
        return web.json_response({"tokens": tokens, "count": len(tokens), "max_model_len": 4096})

    async def detokenize(request: web.Request) -> web.Response:
        text = decode((await request.json()).get("tokens", []))
        return web.json_response({"prompt": text, "content": text})  # vLLM's field, and llama.cpp's

    async def tokenizer_info(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "tokenizer_class": "KittByteTokenizer",
                "eos_token": "</s>",
                "bos_token": "<s>",
                "pad_token": None,
            }
        )

    async def models(_: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "stub", "object": "model"}]})

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="")

    application = web.Application()
    application.router.add_post("/v1/completions", completions)
    if flavor == "tgi":
        _tgi_routes(application)
    else:
        application.router.add_post("/tokenize", tokenize)
        application.router.add_post("/detokenize", detokenize)
        application.router.add_get("/tokenizer_info", tokenizer_info)
    application.router.add_get("/v1/models", models)
    application.router.add_get("/health", health)
    return application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--no-echo", action="store_true", help="ignore `echo`, as llama.cpp's server does")
    parser.add_argument("--flavor", choices=("vllm", "tgi"), default="vllm")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    echo = not args.no_echo and args.flavor == "vllm"
    web.run_app(app(echo=echo, flavor=args.flavor), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
