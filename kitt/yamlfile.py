"""YAML files decoded into typed Structs, with errors that name the file, line and field."""

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import yaml

T = TypeVar("T")


class YamlError(ValueError):
    """A YAML file that does not parse or does not match its schema; the message locates the problem."""


def load_yaml(path: Path, type_: type[T], *, prepare: Callable[[Any], Any] | None = None) -> T:
    try:
        text = path.read_text()
    except OSError as exc:
        raise YamlError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_yaml(text, type_, source=str(path), prepare=prepare)


def parse_yaml(text: str, type_: type[T], *, source: str, prepare: Callable[[Any], Any] | None = None) -> T:
    """`prepare` may adjust the parsed data before it is typed (e.g. YAML 1.1 reads a key `on` as True)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise YamlError(f"{source}: {where}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise YamlError(f"{source}: {exc}") from None
    try:
        data = data if data is not None else {}
        return msgspec.convert(prepare(data) if prepare else data, type_, strict=True)
    except msgspec.ValidationError as exc:
        path = _error_path(str(exc))
        line = _line_of(node, path) if path else None
        where = f"line {line}: " if line else ""
        raise YamlError(f"{source}: {where}{exc}") from None


def _error_path(message: str) -> list[str]:
    # msgspec says "... - at `$.benchmarks[0].concurrency`": turn that into keys and indices.
    raw = message.rsplit("at `$", 1)[1].rstrip("`") if "at `$" in message else ""
    parts: list[str] = []
    for piece in raw.replace("[", ".[").split("."):
        if piece:
            parts.append(piece)
    if message.startswith("Object contains unknown field `"):
        parts.append(message.split("`", 2)[1])  # point at the unknown key itself
    return parts


def _line_of(node: yaml.Node | None, path: list[str]) -> int | None:
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if node is None:
            break
        if part.startswith("[") and isinstance(node, yaml.SequenceNode):
            index = int(part[1:-1])
            node = node.value[index] if index < len(node.value) else None
        elif isinstance(node, yaml.MappingNode):
            key = part.strip("`'\"")
            pair = next(((k, v) for k, v in node.value if getattr(k, "value", None) == key), None)
            if pair is None:
                return line  # a missing field: the mapping that lacks it
            line = pair[0].start_mark.line + 1  # where the field is written
            node = pair[1]
            continue
        else:
            break
        if node is not None:
            line = node.start_mark.line + 1
    return line
