"""Sizing synthetic prompts in the served model's tokens: what each prompt word costs, asked of the engine.

`input_tokens: 64` means 64 tokens of the model being measured, as `vllm bench`'s `--random-input-len`
does, not 64 words: a word is one token in one tokenizer and three in another, so word-sized prompts do
different prefill work on different models and are not comparable. Synthetic prompts are built from a
fixed list of words; the engine tokenizes each word once (`/tokenize`: vLLM's and llama.cpp's), both at a
prompt's start and after another word, and says how many tokens it adds around the text (a BOS, a chat
template). Words are pieces the tokenizer splits on, so a prompt's tokens are the sum of its words'. Where
the engine has no tokenizer endpoint, prompts stay words and the result says so.
"""

import asyncio
from typing import TypeVar

import msgspec

from kitt.bench import prompts
from kitt.engines import httpconn
from kitt.engines.runtime import Endpoint

PARALLEL = 8
T = TypeVar("T")


class WordCosts(msgspec.Struct, frozen=True, kw_only=True):
    """Tokens of each of `prompts.WORDS` after another word, and of a prompt that is only its first word
    (`prompts.WORDS[0]`), with what the engine adds around it (a BOS, a chat template)."""

    inner: tuple[int, ...]
    lead: int
    source: str  # how they were measured, as the result says


class _Tokens(msgspec.Struct):
    tokens: list[object]


class _Template(msgspec.Struct):
    prompt: str


class TokenizerUnavailable(Exception):
    """The engine would not tokenize: why, as the result says."""


async def _post(endpoint: Endpoint, path: str, payload: dict[str, object]) -> bytes:
    body = msgspec.json.encode(payload)
    try:
        response = await httpconn.fetch(endpoint.host, endpoint.port, "POST", path, body, timeout=10)
    except (httpconn.HttpError, TimeoutError, OSError) as exc:
        raise TokenizerUnavailable(f"{path}: {exc or type(exc).__name__}") from None
    if response.status != 200:
        raise TokenizerUnavailable(f"{path}: HTTP {response.status}")
    return response.body()


async def _count(endpoint: Endpoint, text: str, *, special: bool = False, chat: bool = False) -> int:
    api = endpoint.spec.tokenize_api
    payload: dict[str, object]
    if api == "vllm":
        payload = {"model": endpoint.model, "add_special_tokens": special}
        if chat:
            payload["messages"] = [{"role": "user", "content": text}]
            payload["add_generation_prompt"] = True
        else:
            payload["prompt"] = text
        raw = await _post(endpoint, "/tokenize", payload)
    else:
        if chat:  # llama.cpp renders its chat template at /apply-template
            messages: dict[str, object] = {"messages": [{"role": "user", "content": text}]}
            rendered = await _post(endpoint, "/apply-template", messages)
            text = _decode(rendered, _Template).prompt
        raw = await _post(endpoint, "/tokenize", {"content": text, "add_special": special})
    return len(_decode(raw, _Tokens).tokens)


def _decode(raw: bytes, kind: type[T]) -> T:
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.DecodeError as exc:
        raise TokenizerUnavailable(f"an answer that is not a tokenizer's: {exc}") from None


async def measure(endpoint: Endpoint, *, chat: bool) -> WordCosts:
    """Each word's cost, asked of the engine; raises TokenizerUnavailable saying why it could not be."""
    api = endpoint.spec.tokenize_api
    if api is None:
        raise TokenizerUnavailable(f"{endpoint.spec.display} offers no tokenizer endpoint KITT knows")
    gate = asyncio.Semaphore(PARALLEL)

    async def count(text: str) -> int:
        async with gate:
            return await _count(endpoint, text)

    # Every prompt starts with the same word, so its cost where it stands (after a BOS, inside a chat
    # template) is measured as it is. Each other word is measured after it: SentencePiece tokenizers
    # prefix the whole text with a space, so " word" alone would cost a token more than inside a prompt.
    words = prompts.WORDS
    lead = await count(words[0])
    inner = [n - lead for n in await asyncio.gather(*(count(f"{words[0]} {w}") for w in words))]
    return WordCosts(
        inner=tuple(inner),
        lead=await _count(endpoint, words[0], special=True, chat=chat),
        source=f"the engine's tokenizer ({'/apply-template, ' if chat and api != 'vllm' else ''}/tokenize)",
    )
