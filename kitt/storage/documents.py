"""Result document files: read with precise errors (file, field), written as canonical JSON."""

from pathlib import Path

import msgspec

from kitt.events import subjects
from kitt.events.results import ResultDocument
from kitt.events.states import FINAL_STATUSES

_decoder = msgspec.json.Decoder(ResultDocument)


class DocumentError(ValueError):
    pass


def load(path: Path) -> list[ResultDocument]:
    """A file holds one result document, or a JSON array of them (as `kitt storage export` writes)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        raw = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise DocumentError(f"{path}: not valid JSON: {exc}") from None
    items = raw if isinstance(raw, list) else [raw]
    documents: list[ResultDocument] = []
    for index, item in enumerate(items):
        where = f"{path}" + (f"[{index}]" if isinstance(raw, list) else "")
        try:
            doc = msgspec.convert(item, ResultDocument)
        except msgspec.ValidationError as exc:
            raise DocumentError(f"{where}: {exc}") from None
        validate(doc, where)
        documents.append(doc)
    return documents


def validate(doc: ResultDocument, where: str) -> None:
    try:
        subjects.token(doc.run_id, "run_id")
    except subjects.InvalidSubjectToken as exc:
        raise DocumentError(f"{where}: {exc}") from None
    if doc.status not in FINAL_STATUSES:
        raise DocumentError(f"{where}: `status` must be one of {sorted(FINAL_STATUSES)}, not {doc.status!r}")
    if doc.finished_at is None:
        raise DocumentError(f"{where}: a finished run needs `finished_at`")


def dumps(documents: list[ResultDocument]) -> bytes:
    return msgspec.json.format(msgspec.json.encode(documents), indent=2) + b"\n"
