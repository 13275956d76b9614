"""Prompts for load: synthetic ones of a controlled length, or a user's file."""

import json
import random
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kitt.bench.tokens import WordCosts

# Common short English words: one token each in most tokenizers, so words ≈ tokens.
WORDS = (
    "the of and to in is was for on that with as by at from his it an were are which this be or had not "
    "but what all when can said there use each she do how their if will up other about out many then them "
    "these so some her would make like him into time has look two more write go see number no way could "
    "people my than first water been call who oil its now find long down day did get come made may part"
).split()


class PromptError(ValueError):
    """A prompt file that is missing, empty or malformed."""


def words(rng: random.Random, count: int) -> list[str]:
    return [rng.choice(WORDS) for _ in range(max(1, count))]


def synthetic(count: int, input_tokens: int, *, seed: int = 0) -> list[str]:
    """`count` distinct prompts of about `input_tokens` words (distinct so no prefix cache serves them)."""
    rng = random.Random(seed)
    return [
        f"{i} " + " ".join(rng.choice(WORDS) for _ in range(max(1, input_tokens - 1))) for i in range(count)
    ]


def _head(i: int) -> list[int]:
    """Prompt i's distinguishing words: i's digits in base len(WORDS), at least two, so no two prompts
    share a block of first tokens that a prefix cache could serve."""
    digits = [i % len(WORDS)]
    i //= len(WORDS)
    while i or len(digits) < 2:
        digits.append(i % len(WORDS))
        i //= len(WORDS)
    return digits


def sized(count: int, input_tokens: int, costs: "WordCosts", *, seed: int = 0, first: int = 0) -> list[str]:
    """`count` distinct prompts (numbered from `first`) of `input_tokens` tokens of the served model, what
    the engine adds (a BOS, a chat template) included: the first word, then words whose costs sum to the
    rest. A prompt is longer only when its first, distinguishing words alone cost more."""
    rng = random.Random(seed)
    cheapest = min(costs.inner)
    cheap = [j for j, c in enumerate(costs.inner) if c == cheapest]
    out = []
    for i in range(first, first + count):
        head = _head(i)
        chosen = [WORDS[0], *(WORDS[j] for j in head)]
        used = costs.lead + sum(costs.inner[j] for j in head)
        while input_tokens - used >= cheapest:
            pick = rng.randrange(len(WORDS))
            if costs.inner[pick] > input_tokens - used:
                pick = rng.choice(cheap)
            chosen.append(WORDS[pick])
            used += costs.inner[pick]
        out.append(" ".join(chosen))
    return out


def from_file(path: Path, count: int) -> list[str]:
    """Prompts from JSONL (`{"prompt": ...}` per line) or plain text (one per line), cycled to `count`."""
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
    except OSError as exc:
        raise PromptError(f"{path}: cannot read prompts: {exc.strerror}") from None
    prompts: list[str] = []
    for number, line in enumerate(lines, 1):
        if path.suffix == ".jsonl":
            try:
                value = json.loads(line)["prompt"]
            except (ValueError, KeyError, TypeError):
                raise PromptError(f'{path}:{number}: expected a JSON object with a "prompt" string') from None
            if not isinstance(value, str):
                raise PromptError(f'{path}:{number}: "prompt" must be a string')
            prompts.append(value)
        else:
            prompts.append(line)
    if not prompts:
        raise PromptError(f"{path}: no prompts")
    return [prompts[i % len(prompts)] for i in range(count)]
