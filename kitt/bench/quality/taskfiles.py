"""Task YAMLs that run lm-eval's stock tasks on the offline data.

Each file `include:`s the stock task by its absolute path (so its prompts, filters and metrics are lm-eval's
own, nested includes and `!function` hooks resolving beside the stock file) and overrides only where the data
comes from: `dataset_path: json` with absolute `data_files` (relative ones would resolve against the working
directory). The folder is passed to lm-eval as its only include path.
"""

import shutil
from pathlib import Path

import yaml

from kitt.bench.quality.catalog import TaskOverride, Variant
from kitt.bench.quality.datasets import DatasetError


def _override(stock_root: Path, override: TaskOverride, files: dict[str, str]) -> dict[str, object]:
    data_files = {}
    for split, key in override.data_files.items():
        if key not in files:
            raise DatasetError(f"the converted data has no {key!r}, which task {override.task} needs")
        data_files[split] = files[key]
    return {
        "include": str(stock_root / override.stock),
        "task": override.task,
        "dataset_path": "json",
        "dataset_name": None,
        "dataset_kwargs": {"data_files": data_files},
        **override.extra,
    }


def write(variant: Variant, files: dict[str, str], stock_root: Path, target: Path) -> Path:
    """Write the variant's task files into `target` (emptied first); returns it for `include_path`."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for override in variant.overrides:
        document = _override(stock_root, override, files)
        (target / f"{override.task}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    for copy in variant.copies:
        shutil.copyfile(stock_root / copy, target / Path(copy).name)
    return target
