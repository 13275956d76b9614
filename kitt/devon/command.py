"""Devon through its CLI (`devon` on PATH), the last resort: the CLI prints for people (rich text), so
only what it prints in a fixed shape is read — the `Path:` line of `devon download`, the JSON file of
`devon export --format json -o FILE`, the exit status of `devon remove -y`. Search prints a table and
cannot be read reliably: it needs Devon's API or its package."""

import asyncio
import os
import re
import shutil
import tempfile
from pathlib import Path

import msgspec

from kitt.devon.protocol import DevonError, DevonNotFound
from kitt.devon.types import (
    DEFAULT_SOURCE,
    Downloaded,
    LocalModel,
    Search,
    SearchResults,
    StorageStatus,
    usage,
)

PATH_LINE = re.compile(r"^Path: (.+)$", re.MULTILINE)
MARKUP = re.compile(r"\x1b\[[0-9;]*m")


def find() -> str | None:
    return shutil.which("devon")


class CliDevon:
    def __init__(self, executable: str) -> None:
        self.executable = executable

    @property
    def describe(self) -> str:
        return "the devon CLI"

    async def _devon(self, *args: str, answer: str = "") -> tuple[int, str]:
        # A wide console, so rich does not fold a long path over two lines; no colour codes.
        env = {**os.environ, "COLUMNS": "4000", "NO_COLOR": "1", "TERM": "dumb"}
        try:
            process = await asyncio.create_subprocess_exec(
                self.executable,
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
            )
        except OSError as exc:
            raise DevonError(f"{self.describe} does not start: {exc}") from None
        out, _ = await process.communicate(answer.encode())
        return process.returncode or 0, MARKUP.sub("", out.decode(errors="replace"))

    def _failure(self, action: str, printed: str) -> DevonError:
        lines = [line.strip() for line in printed.splitlines() if line.strip()]
        said = lines[-1] if lines else "it printed nothing"
        if "not found" in said.lower():
            return DevonNotFound(f"{self.describe}: {action}: {said}")
        return DevonError(f"{self.describe}: {action} failed: {said}")

    async def search(self, search: Search) -> SearchResults:
        raise DevonError(
            "searching needs Devon's API (DEVON_URL) or the devon package: the devon CLI prints its results "
            "as a table for people"
        )

    async def download(
        self, model_id: str, source: str = DEFAULT_SOURCE, include: tuple[str, ...] = (), force: bool = False
    ) -> Downloaded:
        if include:
            raise DevonError(f"{self.describe} cannot download only some files (include patterns {include})")
        args = ["download", model_id, "--source", source, *(["--force"] if force else [])]
        code, printed = await self._devon(*args, answer="y\n")  # it asks before it downloads
        found = PATH_LINE.findall(printed)
        if code != 0 or not found or "failed" in printed.lower():
            raise self._failure(f"download {source}/{model_id}", printed)
        path = found[-1].strip()
        for model in await self.models(source):
            if model.model_id == model_id:
                return model.downloaded()
        return Downloaded(model_id=model_id, source=source, path=path)

    async def models(self, source: str | None = None) -> tuple[LocalModel, ...]:
        with tempfile.TemporaryDirectory(prefix="kitt-devon-") as folder:
            target = Path(folder) / "models.json"
            code, printed = await self._devon("export", "--format", "json", "-o", str(target))
            if code != 0:
                raise self._failure("export", printed)
            if not target.exists():  # "No models to export."
                return ()
            try:
                found = msgspec.json.decode(target.read_bytes(), type=tuple[LocalModel, ...])
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise DevonError(f"{self.describe}: export wrote something KITT cannot read: {exc}") from None
        return tuple(model for model in found if source is None or model.source == source)

    async def remove(self, model_id: str, source: str = DEFAULT_SOURCE) -> None:
        code, printed = await self._devon("remove", model_id, "--source", source, "-y")
        if code != 0:
            raise self._failure(f"remove {source}/{model_id}", printed)

    async def status(self) -> StorageStatus:
        return usage(await self.models(), None)
