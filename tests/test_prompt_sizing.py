"""`input_tokens` in the served model's tokens: synthetic prompts sized by the engine's own tokenizer.

On the real llama-server (its /tokenize and /apply-template) with the tiny GGUF; vLLM's tokenizer is
tests/test_vllm.py's (slow tier). An engine with no tokenizer endpoint (the stub, which answers 404)
keeps word-sized prompts, and the result says so.
"""

import json
from pathlib import Path

import msgspec
import pytest

from kitt.bench import prompts, tokens
from kitt.engines import httpconn
from kitt.engines.runtime import Endpoint
from tests.stubprocess import running_stub
from tests.test_cli import kitt


def test_prompts_sum_to_the_tokens_asked_whatever_each_word_costs():
    costs = tokens.WordCosts(inner=tuple(1 + j % 3 for j in range(len(prompts.WORDS))), lead=3, source="-")
    made = prompts.sized(9_000, 40, costs, seed=3)
    index = {w: j for j, w in enumerate(prompts.WORDS)}
    for text in made:
        words = [index[w] for w in text.split(" ")]
        assert words[0] == 0 and costs.lead + sum(costs.inner[j] for j in words[1:]) == 40
    assert len(set(made)) == 9_000  # distinct words after the first: past len(WORDS)**2 three of them
    heads = {tuple(t.split(" ")[1:3]) for t in made[: len(prompts.WORDS) ** 2]}
    assert len(heads) == len(prompts.WORDS) ** 2


async def _tokenized(endpoint: Endpoint, text: str, *, chat: bool) -> int:
    if chat:
        body = msgspec.json.encode({"messages": [{"role": "user", "content": text}]})
        reply = await httpconn.fetch(endpoint.host, endpoint.port, "POST", "/apply-template", body)
        text = json.loads(reply.body())["prompt"]
    body = msgspec.json.encode({"content": text, "add_special": True})
    reply = await httpconn.fetch(endpoint.host, endpoint.port, "POST", "/tokenize", body)
    return len(json.loads(reply.body())["tokens"])


@pytest.mark.parametrize("chat", [False, True])
async def test_prompts_are_exactly_the_tokens_asked_on_the_real_llama_server(llama_server, chat):
    costs = await tokens.measure(llama_server, chat=chat)
    assert costs.lead >= 2  # the BOS and the first word, and with chat the template's own tokens
    for asked in (costs.lead + 6, costs.lead + 33, 300):  # chat: the template alone costs about 50
        for text in prompts.sized(5, asked, costs, seed=asked):
            assert await _tokenized(llama_server, text, chat=chat) == asked, text


async def test_an_engine_without_a_tokenizer_keeps_words_and_says_why(tmp_path: Path):
    suite = tmp_path / "s.yaml"
    test = "{kind: performance, name: t, concurrency: [1], max_requests: 2, input_tokens: 8}"
    suite.write_text(f"name: s\ntests:\n- {test}\n")
    with running_stub() as url:
        args = ("-m", "stub", "-e", "vllm", "--runtime", "external", "--endpoint", url, "-s", str(suite))
        run = kitt(tmp_path / "home", "run", *args, "--json")
    outcome = json.loads(run.stdout)
    [bench] = [b for b in outcome["benchmarks"] if b["name"] == "t"]
    assert bench["settings"]["input_sizing"] == (
        "words, not tokens: no tokenizer to size them with (/tokenize: HTTP 404)"
    )
