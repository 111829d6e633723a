"""Where the app's own read-only files live: in a checkout, or inside the frozen desktop bundle.

From a checkout (or an editable install) they sit next to the package: ``<repo>/resources`` and
``<repo>/models``. In the PyInstaller bundle (``packaging/assistant.spec``) the same folders are copied
under the bundle's data folder, ``sys._MEIPASS``. Every module asks here instead of walking up from its
own ``__file__``, so one place knows both layouts.
"""

from __future__ import annotations

import sys
from pathlib import Path


def is_frozen() -> bool:
    """True inside the PyInstaller bundle (its bootloader sets both attributes)."""
    return bool(getattr(sys, "frozen", False)) and hasattr(sys, "_MEIPASS")


def app_root() -> Path:
    """The folder that holds ``resources/`` and ``models/``."""
    if is_frozen():
        return Path(sys._MEIPASS)  # type: ignore[attr-defined]  # set by PyInstaller's bootloader
    return Path(__file__).resolve().parent.parent


def resource_path(*parts: str) -> Path:
    """A file under ``resources/``, e.g. ``resource_path("icons", "assistant-64.png")``."""
    return app_root().joinpath("resources", *parts)


def models_dir() -> Path:
    """The folder of ``catalog.toml`` (in a checkout also a place for the user's own GGUF files)."""
    return app_root() / "models"
