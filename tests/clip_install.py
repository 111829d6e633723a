"""A tiny CLIP model for tests that need one installed: trained on coloured shapes, imported by the app.

`train_and_import` is slow-ish (seconds of torch), so test modules call it from a module-scoped fixture
and `install` copies the imported folder into each test's data folder.
"""

from __future__ import annotations

import hashlib
import random
import shutil
from pathlib import Path

import clip_shapes as shapes

from assistant.clip.folder import clip_models_dir
from assistant.clip.importer import import_clip

NAME = "shapes"


def train_and_import(folder: Path) -> Path:
    """The imported model folder (``folder/models/shapes``)."""
    (folder / "train").mkdir(parents=True, exist_ok=True)
    trained = shapes.train(folder / "train")
    return import_clip(str(trained.config_path), trained.checkpoint, folder / "models", NAME)


def install(model: Path, data_dir: Path) -> Path:
    target = clip_models_dir(data_dir) / NAME
    shutil.copytree(model, target)
    return target


def shape_png(colour: str, shape: str, path: Path, seed: int = 7) -> str:
    """Draws one picture into `path`; returns the sha256 of the file (the library's name for it)."""
    shapes.draw(colour, shape, random.Random(seed)).save(path, "PNG")
    return hashlib.sha256(path.read_bytes()).hexdigest()
