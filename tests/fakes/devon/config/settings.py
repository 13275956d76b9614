import os
from pathlib import Path


class Settings:
    def __init__(self) -> None:
        self.storage_path = Path(os.environ["FAKE_DEVON_STORAGE"]) / "models"
