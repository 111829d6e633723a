"""The speech models Settings ▸ Voice offers, read from the catalogue (a downloaded Whisper pick included).

Pure Python and cheap: the statuses come from files on disk and verification sidecars, nothing is hashed
(a changed bundled file is the exception `catalog.model_status` documents) and nothing connects.
"""

from __future__ import annotations

import logging
from pathlib import Path

from assistant.models.catalog import READY, ModelError, default_model, load_catalog, model_status

log = logging.getLogger(__name__)

def speech_model_choices(data_dir: Path) -> list[tuple[str, str]]:
    """(name, title) of each speech model, "" (automatic: the catalogue's default) first, then the
    bundled ones and each downloaded hub pick. A pick not downloaded yet is left out (Models ▸
    Recommended gets it)."""
    try:
        entries = [e for e in load_catalog() if e.role == "stt"]
        default = default_model("stt")
    except (ModelError, OSError) as error:
        log.warning("speech models from the catalogue unavailable: %s", error)
        return [("", "Automatic")]
    return [("", f"Automatic ({default.title})")] + [
        (e.name, e.title) for e in entries if e.source != "hub" or model_status(e, data_dir) == READY]


__all__ = ["speech_model_choices"]
