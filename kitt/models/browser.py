"""The local model browser: what lies under the model folder, its format, and which engines serve it.

Every path it is given is relative to the model folder and must stay inside it once resolved: `..`, an
absolute path, or a symlink that leads out are refused with `OutsideModelDir`, before anything is read.
"""

import os
from pathlib import Path, PurePosixPath

import msgspec

from kitt.engines import formats, specs

MAX_ENTRIES = 2000
MODEL_SUFFIXES = (".gguf", ".safetensors", ".bin", ".pt", ".pth")


class BrowseError(ValueError):
    """The path cannot be browsed: outside the model folder, missing, or not a folder."""


class OutsideModelDir(BrowseError):
    pass


class ModelEntry(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    path: str  # relative to the model folder, with `/`
    kind: str  # "model" (a file or folder an engine can serve) | "folder" | "file"
    format: str | None = None
    size_bytes: int = 0
    engines: tuple[str, ...] = ()  # the engines that serve this format
    problem: str | None = None  # why a file that looks like a model is not one


class Listing(msgspec.Struct, frozen=True, kw_only=True):
    root: str
    path: str  # "" for the model folder itself
    parent: str | None  # None at the root
    entries: tuple[ModelEntry, ...]
    truncated: bool = False


def confine(root: Path, relative: str) -> Path:
    """`relative` resolved under `root`; raises OutsideModelDir when it leads anywhere else."""
    if "\x00" in relative:
        raise OutsideModelDir("a path with a NUL byte is refused")
    pure = PurePosixPath(relative.replace("\\", "/"))
    if pure.is_absolute() or relative.startswith(("/", "~")) or (len(relative) > 1 and relative[1] == ":"):
        raise OutsideModelDir(f"{relative!r} is absolute: give a path inside the model folder")
    if ".." in pure.parts:
        raise OutsideModelDir(f"{relative!r} climbs out of the model folder")
    base = root.resolve()
    target = (base / pure).resolve()
    if target != base and not target.is_relative_to(base):
        raise OutsideModelDir(f"{relative!r} leads outside the model folder (a symlink out)")
    return target


def engines_for(fmt: str) -> tuple[str, ...]:
    return tuple(name for name, spec in sorted(specs.ENGINES.items()) if fmt in spec.formats)


def browse(root: Path, relative: str = "") -> Listing:
    if not root.is_dir():
        raise BrowseError(f"the model folder {str(root)!r} does not exist (set model_dir or KITT_MODEL_DIR)")
    target = confine(root, relative)
    if not target.exists():
        raise BrowseError(f"{relative!r} does not exist in the model folder")
    base = root.resolve()
    rel = target.relative_to(base).as_posix() if target != base else ""
    entries = [target] if target.is_file() else sorted(target.iterdir(), key=lambda p: p.name.lower())
    listed: list[ModelEntry] = []
    for path in entries[:MAX_ENTRIES]:
        entry = _entry(base, path)
        if entry is not None:
            listed.append(entry)
    parent = None if not rel else _parent(rel)
    return Listing(
        root=str(root),
        path=rel,
        parent=parent,
        entries=tuple(listed),
        truncated=len(entries) > MAX_ENTRIES,
    )


def _entry(base: Path, path: Path) -> ModelEntry | None:
    resolved = path.resolve()
    if resolved != base and not resolved.is_relative_to(base):
        return None  # a symlink out of the folder is not shown, so it cannot be followed
    rel = resolved.relative_to(base).as_posix()
    looks_like_model = path.is_dir() or path.suffix.lower() in MODEL_SUFFIXES
    if not looks_like_model:
        return ModelEntry(name=path.name, path=rel, kind="file", size_bytes=_size(path))
    try:
        fmt = formats.detect(path)
    except formats.ModelError as exc:
        kind = "folder" if path.is_dir() else "file"
        problem = None if path.is_dir() else str(exc)
        return ModelEntry(name=path.name, path=rel, kind=kind, size_bytes=_size(path), problem=problem)
    return ModelEntry(
        name=path.name, path=rel, kind="model", format=fmt, size_bytes=_size(path), engines=engines_for(fmt)
    )


def _size(path: Path) -> int:
    try:
        if path.is_file():
            return path.stat().st_size
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    except OSError:
        return 0


def _parent(rel: str) -> str:
    up = PurePosixPath(rel).parent.as_posix()
    return "" if up == "." else up


def model_dir(setting: str | None) -> Path:
    """The model folder: the saved `model_dir` setting, else KITT_MODEL_DIR, else `$KITT_HOME/models`
    (where `kitt models tiny` writes by default)."""
    home = Path(os.environ.get("KITT_HOME") or Path.home() / ".kitt").expanduser()
    chosen = setting or os.environ.get("KITT_MODEL_DIR") or str(home / "models")
    return Path(chosen).expanduser()


def find_models(root: Path, *, max_depth: int = 3, limit: int = 500) -> list[ModelEntry]:
    """Every model under the folder, a few levels deep (what the quick-test form offers)."""
    if not root.is_dir():
        return []
    found: list[ModelEntry] = []
    base = root.resolve()
    pending = [(base, 0)]
    while pending and len(found) < limit:
        folder, depth = pending.pop(0)
        try:
            children = sorted(folder.iterdir(), key=lambda p: p.name.lower())
        except OSError:
            continue
        for child in children:
            entry = _entry(base, child)
            if entry is None:
                continue
            if entry.kind == "model":
                found.append(entry)
            elif entry.kind == "folder" and depth + 1 < max_depth:
                pending.append((child, depth + 1))
    return found
