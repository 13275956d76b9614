"""A known-answer engine: an OpenAI completions server that answers a fixed half of GSM8K and MMLU right.

A random-weight model scores 0, so a test of it proves only 0 = 0. This server knows every test question
(from the same converted data KITT hands lm-eval) and answers one correctly exactly when `knows(question)`
says so, wrongly otherwise, in the form lm-eval's stock tasks parse: `#### N` for GSM8K (both its filters
take N), a letter for generative MMLU. A score is then a known fraction that KITT must reproduce exactly.

It speaks vLLM's wire format where KITT and lm-eval use it: `POST /v1/completions` (non-streaming, `prompt`
a string or a list), `POST /tokenize` and `/detokenize` (byte-level tokens after a BOS), `GET /v1/models`
with `max_model_len`, `GET /health`. It ignores `echo`, so KITT runs MMLU's generative variant on it. Past
`--context` tokens (prompt, BOS and `max_tokens`) it refuses a request with vLLM's HTTP 400 message.
`GET /known/requests` says how many completions it was asked for. It is a test fixture, not vLLM.
Run with `python -m tests.knownanswers --port P --datasets DIR --cache DIR [--context N]`.
"""

import argparse
import hashlib
import json
import signal
from pathlib import Path

from aiohttp import web

from kitt.bench.quality import datasets

BOS = 1
_KEY = 24  # characters of a prompt's end that index it: no shorter than any question's rendering
LETTERS = "ABCD"


def knows(question: str) -> bool:
    """The fixed half of the questions it answers right: the first byte of the question's SHA-256 is even."""
    return hashlib.sha256(question.encode()).digest()[0] % 2 == 0


def gsm8k_prompt(question: str) -> str:
    """How lm-eval's stock gsm8k task ends a prompt for this question (doc_to_text)."""
    return f"Question: {question}\nAnswer:"


def mmlu_prompt(question: str, choices: list[str]) -> str:
    """How lm-eval's stock generative MMLU task ends a prompt (doc_to_text)."""
    options = "".join(f"\n{letter}. {choice}" for letter, choice in zip(LETTERS, choices, strict=True))
    return f"{question.strip()}{options}\nAnswer:"


def _rows(path: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in Path(path).read_text().split("\n") if line]


class Answers:
    """Every test question of GSM8K and MMLU, by the end of its prompt, with its right and wrong answer."""

    def __init__(self, source: Path, cache: Path) -> None:
        self.by_end: dict[str, list[tuple[str, str]]] = {}  # prompt end -> [(prompt, answer)]
        for row in _rows(datasets.prepare("gsm8k", source, cache).files["test"]):
            question, solution = str(row["question"]), str(row["answer"])
            number = solution.split("####")[-1].strip()
            said = number if knows(question) else number + "1"  # a different number, for both filters
            self._add(gsm8k_prompt(question), f" The steps are done.\n#### {said}")
        for key, path in datasets.prepare("mmlu", source, cache).files.items():
            if not key.endswith("/test"):
                continue
            for row in _rows(path):
                question, choices, right = str(row["question"]), list(row["choices"]), int(row["answer"])
                said = right if knows(question) else (right + 1) % 4
                self._add(mmlu_prompt(question, choices), f" {LETTERS[said]}")

    def _add(self, rendered: str, answer: str) -> None:
        assert len(rendered) >= _KEY, rendered
        self.by_end.setdefault(rendered[-_KEY:], []).append((rendered, answer))

    def answer(self, prompt: str) -> str:
        for rendered, answer in self.by_end.get(prompt[-_KEY:], []):
            if prompt.endswith(rendered):
                return answer
        return " I do not know."


def encode(text: str, special: bool) -> list[int]:
    return ([BOS] if special else []) + [b + 2 for b in text.encode()]


def decode(tokens: list[int]) -> str:
    return bytes(t - 2 for t in tokens if t >= 2).decode(errors="replace")


def app(answers: Answers, context: int) -> web.Application:
    asked = {"completions": 0}

    async def completions(request: web.Request) -> web.Response:
        body = await request.json()
        prompts = body.get("prompt")
        prompts = [prompts] if isinstance(prompts, str) else list(prompts or [])
        max_tokens = int(body.get("max_tokens") or 16)
        asked["completions"] += 1
        counted = [len(encode(p, True)) for p in prompts]
        for tokens in counted:
            if tokens + max_tokens > context:
                message = (
                    f"This model's maximum context length is {context} tokens. However, you requested "
                    f"{tokens + max_tokens} tokens ({tokens} in the messages, {max_tokens} in the "
                    "completion). Please reduce the length of the messages or completion."
                )
                error = {"object": "error", "message": message, "type": "BadRequestError", "code": 400}
                return web.json_response(error, status=400)
        choices = [
            {"index": i, "text": answers.answer(p), "logprobs": None, "finish_reason": "stop"}
            for i, p in enumerate(prompts)
        ]
        completion = sum(len(encode(c["text"], False)) for c in choices)
        usage = {"prompt_tokens": sum(counted), "completion_tokens": completion}
        usage["total_tokens"] = usage["prompt_tokens"] + completion
        document = {"id": "cmpl-known", "object": "text_completion", "model": body.get("model")}
        return web.json_response({**document, "choices": choices, "usage": usage})

    async def tokenize(request: web.Request) -> web.Response:
        body = await request.json()
        tokens = encode(str(body.get("prompt", "")), bool(body.get("add_special_tokens", True)))
        return web.json_response({"tokens": tokens, "count": len(tokens), "max_model_len": context})

    async def detokenize(request: web.Request) -> web.Response:
        return web.json_response({"prompt": decode(list((await request.json()).get("tokens", [])))})

    async def models(_: web.Request) -> web.Response:
        model = {"id": "known", "object": "model", "max_model_len": context}
        return web.json_response({"object": "list", "data": [model]})

    async def requests(_: web.Request) -> web.Response:
        return web.json_response(asked)

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="")

    application = web.Application()
    application.router.add_post("/v1/completions", completions)
    application.router.add_post("/tokenize", tokenize)
    application.router.add_post("/detokenize", detokenize)
    application.router.add_get("/v1/models", models)
    application.router.add_get("/known/requests", requests)
    application.router.add_get("/health", health)
    return application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--datasets", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--context", type=int, default=32768)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    answers = Answers(args.datasets, args.cache)
    web.run_app(app(answers, args.context), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
