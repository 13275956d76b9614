"""Writing a deployment's folder: whole or not at all, secrets 0600, readable by the containers' user."""

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import jinja2

IMAGE_UID = 1000  # the `kitt` user of KITT's image

templates = jinja2.Environment(
    loader=jinja2.PackageLoader("kitt.stack", "templates"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # YAML and NATS configuration, not HTML
)


def write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def owner() -> tuple[int, int]:
    """Who the containers run as: whoever owns the files (never root: then KITT's image's user)."""
    uid, gid = os.getuid(), os.getgid()
    return (IMAGE_UID, IMAGE_UID) if uid == 0 else (uid, gid)


def hand_over(target: Path) -> None:
    """Files written as root go to the containers' user, so it can read its 0600 secrets."""
    if os.getuid() == 0:
        for path in [target, *target.rglob("*")]:
            os.chown(path, *owner())


@contextlib.contextmanager
def staged(target: Path) -> Iterator[Path]:
    """A 0700 sibling temp folder to write into, renamed onto `target` if the block succeeds and
    removed if it fails: a failure leaves nothing behind."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        staging.chmod(0o700)
        yield staging
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def env_file(values: dict[str, str]) -> str:
    lines = [f"{key}={value}" for key, value in values.items()]
    return (
        "# Secrets of this deployment: keep this file 0600 and out of version control.\n"
        + "\n".join(lines)
        + "\n"
    )
