import os
from dataclasses import dataclass, field
from pathlib import Path

CATALOGUE = {"kitt-test/tiny-llama-GGUF": ["tiny-Q8_0.gguf"], "kitt-test/broken-GGUF": ["broken.gguf"]}


@dataclass
class ModelMetadata:
    source: str
    model_id: str
    model_name: str
    author: str
    total_size_bytes: int
    file_count: int
    parameter_count: float | None = None
    format: list[str] = field(default_factory=lambda: ["gguf"])


class FakeHub:
    @classmethod
    def name(cls) -> str:
        return "huggingface"

    def search(self, query=None, filters=None, limit=20) -> list[ModelMetadata]:
        found = [self.get_model_info(m) for m in CATALOGUE if (query or "").lower() in m.lower()]
        return found[:limit]

    def get_model_info(self, model_id: str) -> ModelMetadata:
        if model_id not in CATALOGUE:
            raise ValueError(f"Model not found: {model_id}")
        author, _, name = model_id.partition("/")
        files = CATALOGUE[model_id]
        return ModelMetadata("huggingface", model_id, name, author, 7 * len(files), len(files), 0.001)

    def download_model(self, model_id: str, dest_path: str, progress_callback=None) -> list[str]:
        if "broken" in model_id:
            raise ConnectionError(f"{model_id}: connection reset")
        payload = os.environ.get("FAKE_DEVON_PAYLOAD")
        data = Path(payload).read_bytes() if payload else b"weights"
        Path(dest_path).mkdir(parents=True, exist_ok=True)
        for name in CATALOGUE[model_id]:
            (Path(dest_path) / name).write_bytes(data)
        return list(CATALOGUE[model_id])


class SourceRegistry:
    @classmethod
    def get_source(cls, name: str) -> type:
        if name != "huggingface":
            raise ValueError(f"Unknown source: {name}")
        return FakeHub
