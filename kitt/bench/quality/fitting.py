"""Few-shot prompts fitted to the engine's context, cut from the left in the engine's own tokens.

lm-eval left-truncates a generative prompt to `max_length - max_gen_toks` tokens when it holds a tokenizer;
KITT's generative requests go out as text with no local tokenizer, so without this a 5-shot GSM8K prompt
larger than a small model's context is refused by the engine (`request (4392 tokens) exceeds the available
context size (2048 tokens)`). Here the engine's `/tokenize` counts each prompt as the engine will (its BOS
included), a prompt over budget loses its oldest tokens (`/detokenize` turns the rest back into text, the
question at its end intact, as lm-eval's cut keeps it), and the re-encoded text is checked against the
budget again, since a cut between merged pieces can re-tokenize differently.

An engine with no tokenizer endpoint KITT knows cannot be cut by token; where it states its context, the
prompts must fit by a bound that needs no tokenizer (no token is shorter than one byte), or the test fails
before the first request, naming the context and the longest prompt. Runs in the evaluation worker (sync).
"""

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import msgspec
import requests

from kitt.bench.quality.job import Fitting, TokenizeApi

SPECIAL_MARGIN = 16  # tokens an engine may add around a text it cannot count for us (BOS, a template)
_TRIES = 4


class ContextTooShort(Exception):
    """Prompts that cannot be made to fit: the message names the context and the longest prompt."""


class _Tokens(msgspec.Struct):
    tokens: list[int]


class _Text(msgspec.Struct):
    prompt: str | None = None  # vLLM's /detokenize
    content: str | None = None  # llama.cpp's


class EngineTokenizer:
    """The engine's `/tokenize` and `/detokenize` (vLLM's or llama.cpp's), over one HTTP session."""

    def __init__(self, base_url: str, api: TokenizeApi, model: str, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.api = api
        self.model = model
        self.timeout_s = timeout_s
        self.session = requests.Session()

    def _post(self, path: str, payload: dict[str, object]) -> bytes:
        try:
            response = self.session.post(
                f"{self.base_url}{path}",
                data=msgspec.json.encode(payload),
                headers={"Content-Type": "application/json"},
                timeout=self.timeout_s,
            )
        except requests.RequestException as exc:
            raise ContextTooShort(f"the engine's {path} failed while fitting prompts: {exc}") from None
        if response.status_code != 200:
            raise ContextTooShort(
                f"the engine's {path} answered HTTP {response.status_code} while fitting prompts: "
                f"{response.text[:200]}"
            )
        return response.content

    def encode(self, text: str, *, special: bool) -> list[int]:
        if self.api == "vllm":
            payload: dict[str, object] = {"model": self.model, "prompt": text, "add_special_tokens": special}
        else:
            payload = {"content": text, "add_special": special}
        return msgspec.json.decode(self._post("/tokenize", payload), type=_Tokens).tokens

    def decode(self, tokens: list[int]) -> str:
        payload: dict[str, object] = {"tokens": tokens}
        if self.api == "vllm":
            payload["model"] = self.model
        text = msgspec.json.decode(self._post("/detokenize", payload), type=_Text)
        return (text.prompt if self.api == "vllm" else text.content) or ""


class _Fitted(msgspec.Struct, frozen=True):
    text: str
    tokens: int  # before cutting, specials included
    cut: int  # tokens removed


def fit(text: str, budget: int, tokenizer: EngineTokenizer) -> _Fitted:
    """`text`, or its end that fits `budget` tokens as the engine counts them (specials included)."""
    total = len(tokenizer.encode(text, special=True))
    if total <= budget:
        return _Fitted(text, total, 0)
    plain = tokenizer.encode(text, special=False)
    keep = budget - (total - len(plain))
    for _ in range(_TRIES):
        if keep <= 0:
            break
        candidate = tokenizer.decode(plain[-keep:])
        counted = len(tokenizer.encode(candidate, special=True))
        if counted <= budget:
            return _Fitted(candidate, total, total - counted)
        keep -= counted - budget
    raise ContextTooShort(
        f"a {total}-token prompt could not be cut to the {budget} tokens the context leaves it"
    )


def fit_all(
    prompts: Sequence[tuple[str, int]],
    *,
    tokenizer: EngineTokenizer | None,
    context: int,
    stated_context: bool,
    engine: str,
    parallel: int,
) -> tuple[list[str], Fitting]:
    """Each (prompt, max_gen_toks) fitted to `context` (lm-eval's max_length: the engine's, where it states
    one, capped by the suite's); the texts to send, and what was done."""
    if not prompts:
        return [], Fitting(how="no generative prompts", prompts=0)
    if tokenizer is None:
        return [text for text, _ in prompts], _unfitted(prompts, context, stated_context, engine)
    for _, answer in prompts:
        if context - answer <= 0:
            raise ContextTooShort(
                f"{engine} holds {context} tokens a request, which leaves no room for a prompt beside the "
                f"{answer} tokens kept for the answer (max_gen_toks)"
            )
    with ThreadPoolExecutor(max(1, parallel)) as pool:
        fitted = list(pool.map(lambda item: fit(item[0], context - item[1], tokenizer), prompts))
    cuts = [f.cut for f in fitted if f.cut]
    report = Fitting(
        how="the engine's tokenizer (/tokenize, /detokenize)",
        prompts=len(fitted),
        cut=len(cuts),
        longest_tokens=max(f.tokens for f in fitted),
        most_cut_tokens=max(cuts, default=0),
    )
    return [f.text for f in fitted], report


def _unfitted(prompts: Sequence[tuple[str, int]], context: int, stated: bool, engine: str) -> Fitting:
    """No tokenizer: prompts go as they are, after the byte bound where the engine states its context."""
    if not stated:
        return Fitting(how=f"unchecked: {engine} states no context", prompts=len(prompts))
    longest, answer = max(((len(text.encode()), answer) for text, answer in prompts), key=lambda p: p[0])
    if longest + SPECIAL_MARGIN + answer > context:
        raise ContextTooShort(
            f"{engine} holds {context} tokens a request and offers no tokenizer endpoint KITT can cut "
            f"prompts with; the longest prompt is {longest} bytes (up to {longest} tokens) and {answer} "
            "tokens are kept for the answer. Lower num_fewshot, or run on an engine with a larger context"
        )
    return Fitting(how=f"byte bound: every prompt fits {engine}'s {context} tokens", prompts=len(prompts))
