"""The scoring rules of KITT's simple custom format, as lm-eval metric functions.

lm-eval calls a metric with `references=[gold]`, `predictions=[answer]` and the extra keys of the task's
`metric_list` entry; each returns 1.0 or 0.0 for one document. The evaluation worker registers them as
`kitt_exact`, `kitt_contains`, `kitt_regex` and `kitt_numeric`.
"""

import math
import re
from collections.abc import Callable

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def _pair(references: list[str], predictions: list[str]) -> tuple[str, str]:
    return str(references[0]).strip(), str(predictions[0]).strip()


def exact(references: list[str], predictions: list[str], ignore_case: bool = True, **_: object) -> float:
    gold, answer = _pair(references, predictions)
    if ignore_case:
        gold, answer = gold.casefold(), answer.casefold()
    return float(gold == answer)


def contains(references: list[str], predictions: list[str], ignore_case: bool = True, **_: object) -> float:
    gold, answer = _pair(references, predictions)
    if ignore_case:
        gold, answer = gold.casefold(), answer.casefold()
    return float(gold in answer)


def regex(references: list[str], predictions: list[str], ignore_case: bool = True, **_: object) -> float:
    pattern, answer = _pair(references, predictions)
    return float(re.search(pattern, answer, re.IGNORECASE if ignore_case else 0) is not None)


def last_number(text: str) -> float | None:
    found = _NUMBER.findall(text)
    return float(found[-1].replace(",", "")) if found else None


def numeric(references: list[str], predictions: list[str], tolerance: float = 1e-6, **_: object) -> float:
    gold, answer = _pair(references, predictions)
    value = last_number(answer)
    if value is None:
        return 0.0
    return float(math.isclose(value, float(gold.replace(",", "")), rel_tol=tolerance, abs_tol=tolerance))


RULES: dict[str, Callable[..., float]] = {
    "kitt_exact": exact,
    "kitt_contains": contains,
    "kitt_regex": regex,
    "kitt_numeric": numeric,
}
