"""Where an agent finds a test's model: as given, under its model dir, or copied from a shared mount.

With `nfs_mount` set, a model under the mount (or a relative path, resolved against it) is copied to the
agent's `model_dir` before the test — engines then read local disk, not the network — and removed after
it when `cleanup_models` is on. A path that escapes the mount (`..`, a symlink out) is refused.
"""

import shutil
from pathlib import Path

import msgspec

from kitt.agent.config import AgentConfig


class ModelPathError(ValueError):
    pass


class Staged(msgspec.Struct, frozen=True, kw_only=True):
    path: str  # what the engine is given
    copied_from: str | None = None
    remove_after: bool = False


def stage(model: str, config: AgentConfig) -> Staged:
    """Resolve (and, from a share, copy) the model; blocking: call it from a thread."""
    path = Path(model).expanduser()
    if config.nfs_mount and config.model_dir:
        mount = Path(config.nfs_mount).expanduser().resolve()
        source = (path if path.is_absolute() else mount / path).resolve()
        if path.is_absolute() and not source.is_relative_to(mount):
            return Staged(path=str(path))  # a local path elsewhere: used as it is
        if not source.is_relative_to(mount):
            raise ModelPathError(f"model {model!r} resolves to {source}, outside the share {mount}")
        if not source.exists():
            raise ModelPathError(f"model {model!r} is not on the share {mount}")
        target = Path(config.model_dir).expanduser() / source.relative_to(mount)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target)
            else:
                shutil.copy2(source, target)
        return Staged(path=str(target), copied_from=str(source), remove_after=config.cleanup_models)
    if not path.is_absolute() and config.model_dir:
        path = Path(config.model_dir).expanduser() / path
    return Staged(path=str(path))


def clean(staged: Staged) -> None:
    if not staged.remove_after or staged.copied_from is None:
        return
    target = Path(staged.path)
    if target.is_dir():
        shutil.rmtree(target, ignore_errors=True)
    else:
        target.unlink(missing_ok=True)
