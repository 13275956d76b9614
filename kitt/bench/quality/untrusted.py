"""What a task file from outside the trusted directory may not do: reach Python through its templates, or
load a metric's code.

lm-eval renders prompts with a plain (unsandboxed) Jinja environment, so `{{ cycler.__init__.__globals__ }}`
reaches `os`; and a metric it does not know is handed to HF `evaluate.load`, which runs a local script of
that name. These checks refuse both when the file is validated, with the field named; the evaluation
worker also renders an untrusted task's templates in Jinja's sandbox and cannot import `evaluate`, for
what a static check cannot see (an attribute name built at render time).
"""

from collections.abc import Iterator

from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

_SANDBOX = SandboxedEnvironment()
_MARKERS = ("{{", "{%", "{#")


def _strings(value: object, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from _strings(inner, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _strings(inner, f"{where}[{index}]")


def _name_of(node: nodes.Node) -> str | None:
    """The attribute or key a node reaches, when it is written out (None: computed at render time)."""
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return node.arg.value if isinstance(node.arg.value, str) else None
    return None


def _template_problem(text: str) -> str | None:
    try:
        tree = _SANDBOX.parse(text)
    except TemplateSyntaxError as exc:
        return f"is not a valid template: {exc.message}"
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        name = _name_of(node)
        if name is not None and name.startswith("_"):
            return f"reaches {name!r}: a template may not touch attributes beginning with '_'"
    for node in tree.find_all(nodes.Filter):
        if node.name == "attr":
            return "uses the `attr` filter, which reaches attributes by computed names"
    return None


def template_problems(config: dict[str, object]) -> Iterator[tuple[str, str]]:
    """(field, why) for each template in the task the sandbox would refuse or that reaches `_` names."""
    for where, text in _strings(config, ""):
        if any(marker in text for marker in _MARKERS):
            problem = _template_problem(text)
            if problem is not None:
                yield where, problem


def metric_problems(config: dict[str, object]) -> Iterator[tuple[str, str]]:
    """(field, why) for each metric lm-eval would look for as code (HF evaluate) rather than by name."""
    metrics = config.get("metric_list")
    for index, entry in enumerate(metrics if isinstance(metrics, list) else []):
        if not isinstance(entry, dict):
            continue
        where = f"metric_list[{index}]"
        if entry.get("hf_evaluate"):
            yield f"{where}.hf_evaluate", "loads the metric's code through HF evaluate"
        name = entry.get("metric")
        if isinstance(name, str) and any(c in name for c in "/\\.~"):
            yield f"{where}.metric", f"{name!r} names a path or a hub metric, which is loaded as code"
