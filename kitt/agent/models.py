"""Where an agent finds a test's model: as given, under its model dir, or copied from a shared mount.

With `nfs_mount` set, a model under the mount (or a relative path, resolved against it) is copied to the
agent's `model_dir` before the test — engines then read local disk, not the network — and, when
`cleanup_models` is on, that copy is removed after the test. Only a copy this function made is ever
removed: a model already in `model_dir` is used where it is and left there. A path that escapes the mount
(`..`, a symlink out) is refused, and so is a layout where a copy could land on the share or on `/`
(`model_dir` or `nfs_mount` of `/`, the two the same, or `model_dir` inside the mount).
"""

import shutil
from pathlib import Path

import msgspec

from kitt.agent.config import AgentConfig
from kitt.commands.decide import staging_layout_problem


class ModelPathError(ValueError):
    pass


class Staged(msgspec.Struct, frozen=True, kw_only=True):
    path: str  # what the engine is given
    copied_from: str | None = None  # set only when this agent made `path` as a copy for this test
    remove_after: bool = False


def _layout(config: AgentConfig) -> tuple[Path, Path]:
    mount = Path(config.nfs_mount or "").expanduser().resolve()
    folder = Path(config.model_dir or "").expanduser().resolve()
    problem = staging_layout_problem(str(folder), str(mount))
    if problem is not None:
        raise ModelPathError(f"cannot stage models: {problem}")
    return mount, folder


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.kitt-partial")
    try:
        if source.is_dir():
            shutil.copytree(source, partial)
        else:
            shutil.copy2(source, partial)
        partial.rename(target)  # the copy appears whole, or not at all
    except BaseException:
        if partial.is_dir():
            shutil.rmtree(partial, ignore_errors=True)
        else:
            partial.unlink(missing_ok=True)
        raise


def free_gib(config: AgentConfig, home: Path) -> tuple[float, Path]:
    """Free space where models land (the model folder, else the agent's home), in GiB."""
    where = Path(config.model_dir).expanduser() if config.model_dir else home
    while not where.exists() and where != where.parent:
        where = where.parent
    return shutil.disk_usage(where).free / 2**30, where


def stage(model: str, config: AgentConfig, cleanup: bool | None = None) -> Staged:
    """Resolve (and, from a share, copy) the model; blocking: call it from a thread. `cleanup`: remove a
    copy afterwards (None: as the agent is configured)."""
    path = Path(model).expanduser()
    if config.nfs_mount and config.model_dir:
        mount, folder = _layout(config)
        source = (path if path.is_absolute() else mount / path).resolve()
        if path.is_absolute() and not source.is_relative_to(mount):
            return Staged(path=str(path))  # a local path elsewhere: used as it is
        if not source.is_relative_to(mount):
            raise ModelPathError(f"model {model!r} resolves to {source}, outside the share {mount}")
        if not source.exists():
            raise ModelPathError(f"model {model!r} is not on the share {mount}")
        target = folder / source.relative_to(mount)
        if target.exists() or target.is_symlink():
            return Staged(path=str(target))  # already local: not ours to remove
        _copy(source, target)
        remove = config.cleanup_models if cleanup is None else cleanup
        return Staged(path=str(target), copied_from=str(source), remove_after=remove)
    if not path.is_absolute() and config.model_dir:
        path = Path(config.model_dir).expanduser() / path
    return Staged(path=str(path))


def clean(staged: Staged) -> None:
    """Remove the copy `stage` made for this test, and nothing else."""
    if not staged.remove_after or staged.copied_from is None:
        return
    target = Path(staged.path)
    if target.is_symlink() or not target.is_dir():
        target.unlink(missing_ok=True)
    else:
        shutil.rmtree(target, ignore_errors=True)
