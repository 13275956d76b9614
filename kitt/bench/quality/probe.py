"""Can this engine score loglikelihood tasks? Ask it once, before any quality run.

Loglikelihood tasks read the logprob of every prompt token from a completions request with `echo` and
`logprobs` (on TGI: the prefill details of its native `/generate`). A server that ignores `echo`
(llama.cpp, Ollama) returns logprobs for the generated token only, and lm-eval would turn that into
chance-level scores without complaint; so the probe checks that one logprob comes back per prompt token,
and that the server can tokenize remotely (vLLM's `/tokenize`, `/detokenize` and `/tokenizer_info`; TGI's
`/tokenize`), which lm-eval needs to know where the context ends.
"""

import msgspec

from kitt.engines.httpconn import HttpError, fetch
from kitt.engines.runtime import Endpoint

PROBE_PROMPT = "The quick brown fox jumps over the lazy dog"


class Capabilities(msgspec.Struct, frozen=True, kw_only=True):
    loglikelihood: bool
    reason: str = ""  # why loglikelihood tasks are refused, when they are
    prompt_tokens: int | None = None
    prompt_logprobs: int | None = None


class _Logprobs(msgspec.Struct):
    token_logprobs: list[float | None] = []


class _Choice(msgspec.Struct):
    text: str = ""
    logprobs: _Logprobs | None = None


class _Usage(msgspec.Struct):
    prompt_tokens: int | None = None


class _Completion(msgspec.Struct):
    choices: list[_Choice] = []
    usage: _Usage | None = None


class _Tokens(msgspec.Struct):
    tokens: list[int | str | dict[str, object]] = []


# A busy engine (a benchmark of another user, a CPU build's first prompt-logprobs request) may take a while;
# a probe that gives up too soon would send an engine that can score loglikelihood to another mode.
TIMEOUT_S = 120.0


async def _post(endpoint: Endpoint, path: str, payload: dict[str, object]) -> tuple[int, bytes]:
    try:
        response = await fetch(
            endpoint.host, endpoint.port, "POST", path, msgspec.json.encode(payload), TIMEOUT_S
        )
    except TimeoutError:
        raise TimeoutError(f"POST {path} had no answer within {TIMEOUT_S:g} s") from None
    return response.status, response.body()


def _why(exc: BaseException) -> str:
    return str(exc) or f"{type(exc).__name__} (no answer within {TIMEOUT_S:g} s)"


async def _count_tokens(endpoint: Endpoint) -> int | None:
    status, body = await _post(endpoint, "/tokenize", {"prompt": PROBE_PROMPT, "add_special_tokens": False})
    if status != 200:
        return None
    try:
        return len(msgspec.json.decode(body, type=_Tokens).tokens) or None
    except msgspec.ValidationError:
        return None


class _Prefill(msgspec.Struct):
    logprob: float | None = None


class _Details(msgspec.Struct):
    prefill: list[_Prefill] = []


class _Generated(msgspec.Struct):
    details: _Details | None = None


async def _probe_tgi(endpoint: Endpoint) -> Capabilities:
    """TGI: `/generate` with `decoder_input_details` gives a logprob for each token `/tokenize` counts."""
    parameters = {"max_new_tokens": 1, "details": True, "decoder_input_details": True, "do_sample": False}
    try:
        counted_status, counted = await _post(endpoint, "/tokenize", {"inputs": PROBE_PROMPT})
        status, body = await _post(endpoint, "/generate", {"inputs": PROBE_PROMPT, "parameters": parameters})
        tokens = len(msgspec.json.decode(counted)) if counted_status == 200 else None
        details = msgspec.json.decode(body, type=_Generated).details if status == 200 else None
    except (HttpError, OSError, TimeoutError, msgspec.DecodeError) as exc:
        return Capabilities(loglikelihood=False, reason=f"the TGI prefill probe failed: {_why(exc)}")
    prefill = details.prefill if details else []
    scored = sum(1 for p in prefill[1:] if p.logprob is not None)
    if tokens is None or not prefill or len(prefill) != tokens or scored < tokens - 1:
        reason = (
            f"TGI returned {scored} prefill logprobs for a {tokens}-token prompt "
            "(/generate with decoder_input_details, /tokenize); loglikelihood tasks are refused"
        )
        return Capabilities(loglikelihood=False, reason=reason, prompt_tokens=tokens, prompt_logprobs=scored)
    return Capabilities(loglikelihood=True, prompt_tokens=tokens, prompt_logprobs=scored)


async def probe(endpoint: Endpoint) -> Capabilities:
    """One echo + logprobs request; loglikelihood is allowed only when every prompt token has a logprob."""
    if endpoint.spec.dialect == "tgi":
        return await _probe_tgi(endpoint)
    payload = {
        "model": endpoint.model,
        "prompt": PROBE_PROMPT,
        "max_tokens": 1,
        "temperature": 0,
        "logprobs": 1,
        "echo": True,
    }
    try:
        status, body = await _post(endpoint, "/v1/completions", payload)
        counted = await _count_tokens(endpoint)
        info = await fetch(endpoint.host, endpoint.port, "GET", "/tokenizer_info", timeout=TIMEOUT_S)
    except (HttpError, OSError, TimeoutError) as exc:
        return Capabilities(loglikelihood=False, reason=f"the echo/logprobs probe failed: {_why(exc)}")
    if status != 200:
        text = body[:200].decode(errors="replace")
        return Capabilities(
            loglikelihood=False, reason=f"the engine refused an echo/logprobs request (HTTP {status}: {text})"
        )
    try:
        completion = msgspec.json.decode(body, type=_Completion)
    except msgspec.DecodeError as exc:
        return Capabilities(loglikelihood=False, reason=f"the echo/logprobs probe got malformed JSON: {exc}")
    prompt_tokens = counted or (completion.usage.prompt_tokens if completion.usage else None)
    choice = completion.choices[0] if completion.choices else _Choice()
    returned = len(choice.logprobs.token_logprobs) if choice.logprobs else 0
    if prompt_tokens is None:
        reason = "the engine reports no prompt token count, so echoed logprobs cannot be checked"
        return Capabilities(loglikelihood=False, reason=reason, prompt_logprobs=returned)
    if not choice.text.startswith(PROBE_PROMPT) or returned < prompt_tokens:
        reason = (
            f"the engine does not echo prompt logprobs ({returned} logprobs for a {prompt_tokens}-token "
            "prompt); loglikelihood tasks would score at chance, so they are refused — run the "
            "generative variant instead"
        )
        return Capabilities(
            loglikelihood=False, reason=reason, prompt_tokens=prompt_tokens, prompt_logprobs=returned
        )
    if counted is None or info.status != 200:
        reason = (
            "the engine echoes logprobs but has no remote tokenizer (/tokenize and /tokenizer_info; "
            "on vLLM start it with --enable-tokenizer-info-endpoint)"
        )
        return Capabilities(
            loglikelihood=False, reason=reason, prompt_tokens=prompt_tokens, prompt_logprobs=returned
        )
    return Capabilities(loglikelihood=True, prompt_tokens=prompt_tokens, prompt_logprobs=returned)
