"""Prompts for load: synthetic ones of a controlled length, or a user's file."""

import json
import random
from pathlib import Path

# Common short English words: one token each in most tokenizers, so words ≈ tokens.
_WORDS = (
    "the of and to in is was for on that with as by at from his it an were are which this be or had not "
    "but what all when can said there use each she do how their if will up other about out many then them "
    "these so some her would make like him into time has look two more write go see number no way could "
    "people my than first water been call who oil its now find long down day did get come made may part"
).split()


class PromptError(ValueError):
    """A prompt file that is missing, empty or malformed."""


def words(rng: random.Random, count: int) -> list[str]:
    return [rng.choice(_WORDS) for _ in range(max(1, count))]


def synthetic(count: int, input_tokens: int, *, seed: int = 0) -> list[str]:
    """`count` distinct prompts of about `input_tokens` words (distinct so no prefix cache serves them)."""
    rng = random.Random(seed)
    return [
        f"{i} " + " ".join(rng.choice(_WORDS) for _ in range(max(1, input_tokens - 1))) for i in range(count)
    ]


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
