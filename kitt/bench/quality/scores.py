"""lm-eval's scores as KARR metrics: every task and group, every filter, each with its stderr.

The figures keep lm-eval's metric names (`acc`, `acc_norm`, `exact_match`, `bleu_acc`, ...) with the task,
filter, level (task or group), task version and, for MMLU, subject or category as labels; one more metric,
`score`, quotes the benchmark's headline figure so results of one benchmark and mode line up in KARR.
"""

from kitt.bench.quality.job import Evaluation, TaskScores
from kitt.events.results import Metric

FRACTIONS = {"acc", "acc_norm", "exact_match", "mc1", "mc2", "bleu_acc", "rouge1_acc", "rouge2_acc"}
FRACTIONS |= {"rougeL_acc", "kitt_exact", "kitt_contains", "kitt_regex", "kitt_numeric"}


def _labels(task: TaskScores, filter_: str, parent: str | None) -> dict[str, str]:
    labels = {"task": task.name, "filter": filter_, "level": "group" if task.group else "task"}
    if task.version is not None:
        labels["version"] = str(task.version)
    if parent is not None:
        labels["group"] = parent
    alias = (task.alias or task.name).strip(" -")
    if task.group and parent in ("mmlu", "mmlu_generative"):
        labels["category"] = alias
    elif not task.group and task.name.startswith("mmlu_"):
        labels["subject"] = alias
    return labels


def task_metrics(evaluation: Evaluation) -> list[Metric]:
    parents = {member: group for group, members in evaluation.subtasks.items() for member in members}
    metrics: list[Metric] = []
    for task in evaluation.tasks:
        for key, value in sorted(task.scores.items()):
            name, _, filter_ = key.partition(",")
            if name.endswith("_stderr"):
                continue
            unit = "fraction" if name in FRACTIONS else ""
            labels = _labels(task, filter_, parents.get(task.name))
            metrics.append(Metric(name=name, value=value, unit=unit, labels=labels))
            stderr = task.scores.get(f"{name}_stderr,{filter_}")
            metrics.append(Metric(name=f"{name}_stderr", value=stderr, unit=unit, labels=labels))
    return metrics


def headline(evaluation: Evaluation, task: str, metric: str, filter_: str) -> list[Metric]:
    """The one figure to quote, with its stderr; nothing when the evaluation lacks it."""
    found = next((t for t in evaluation.tasks if t.name == task), None)
    if found is None or f"{metric},{filter_}" not in found.scores:
        return []
    labels = {"task": task, "metric": metric, "filter": filter_}
    unit = "fraction" if metric in FRACTIONS else ""
    return [
        Metric(name="score", value=found.scores[f"{metric},{filter_}"], unit=unit, labels=labels),
        Metric(
            name="score_stderr",
            value=found.scores.get(f"{metric}_stderr,{filter_}"),
            unit=unit,
            labels=labels,
        ),
    ]


def documents(evaluation: Evaluation, task: str) -> int | None:
    """How many documents were scored under `task`, summing a group's members."""
    found = {t.name: t for t in evaluation.tasks}
    if task in found and found[task].samples is not None:
        return found[task].samples
    members = evaluation.subtasks.get(task)
    if not members:
        return None
    counts = [documents(evaluation, m) for m in members]
    return sum(c for c in counts if c is not None)
