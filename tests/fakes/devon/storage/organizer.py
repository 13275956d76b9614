import json
import shutil
from pathlib import Path


class ModelStorage:
    def __init__(self, base_path: Path | None = None) -> None:
        if base_path is None:
            from devon.config.settings import Settings

            base_path = Settings().storage_path
        self.base_path = Path(base_path)
        self.index_file = self.base_path.parent / "index.json"
        self.base_path.mkdir(parents=True, exist_ok=True)
        self.index = json.loads(self.index_file.read_text()) if self.index_file.exists() else {}

    def get_model_path(self, source: str, model_id: str) -> Path:
        return self.base_path / source / model_id

    def register_model(self, source: str, model_id: str, metadata: dict, files: list[str]) -> None:
        path = self.get_model_path(source, model_id)
        size = sum((path / f).stat().st_size for f in files if (path / f).exists())
        self.index[f"{source}::{model_id}"] = {
            "source": source,
            "model_id": model_id,
            "path": str(path),
            "metadata": {k: v for k, v in metadata.items() if isinstance(v, (str, int, float, list))},
            "files": files,
            "downloaded_at": "2026-12-01T00:00:00",
            "last_used": None,
            "size_bytes": size,
        }
        self._save()

    def list_local_models(self, source: str | None = None) -> list[dict]:
        return [e for e in self.index.values() if source is None or e["source"] == source]

    def is_downloaded(self, source: str, model_id: str) -> bool:
        return f"{source}::{model_id}" in self.index

    def get_model_entry(self, source: str, model_id: str) -> dict | None:
        return self.index.get(f"{source}::{model_id}")

    def delete_model(self, source: str, model_id: str) -> bool:
        entry = self.index.pop(f"{source}::{model_id}", None)
        if entry is None:
            return False
        shutil.rmtree(entry["path"], ignore_errors=True)
        self._save()
        return True

    def get_total_size(self) -> int:
        return sum(e["size_bytes"] for e in self.index.values())

    def _save(self) -> None:
        self.index_file.write_text(json.dumps(self.index, indent=2))
