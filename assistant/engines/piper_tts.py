"""Spoken replies with a Piper voice (implements `protocols.Speaker`).

Piper voices are a VITS ONNX model plus a JSON file with the phoneme map and sample rate. We build the
onnxruntime session ourselves instead of calling `PiperVoice.load()` so the thread count can be capped:
synthesis runs while llama.cpp is still streaming the answer, and both compete for the same cores.
Every way a voice can be unusable (missing file, damaged JSON, a file that is not an ONNX model)
becomes a `ModelError` that names the file, because onnxruntime's own messages name neither.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
from piper import PiperVoice
from piper.config import PiperConfig, SynthesisConfig

from assistant.models.catalog import ModelError

logger = logging.getLogger(__name__)

CONFIG_SUFFIX = ".json"  # Piper's convention: voice.onnx + voice.onnx.json


def _voice_files(model_path: Path) -> tuple[Path, Path]:
    """(onnx, json) for a voice file, or for the folder `ensure_model` returns for a catalogue voice."""
    if model_path.is_dir():
        candidates = sorted(model_path.glob("*.onnx"))
        if len(candidates) != 1:
            found = ", ".join(p.name for p in candidates) or "none"
            raise ModelError(f"expected one Piper voice (.onnx) in {model_path}, found {found}")
        model_path = candidates[0]
    config_path = model_path.with_name(model_path.name + CONFIG_SUFFIX)
    for path, what in ((model_path, "voice model"), (config_path, "voice settings")):
        if not path.is_file():
            raise ModelError(f"Piper {what} {path} does not exist; reinstall the voice or pick another")
    return model_path, config_path


def _read_config(config_path: Path) -> PiperConfig:
    try:
        raw = json.loads(config_path.read_text(encoding="utf-8"))
        config = PiperConfig.from_dict(raw)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelError(
            f"Piper voice settings {config_path} are damaged ({exc!r}); reinstall the voice"
        ) from exc
    if config.sample_rate <= 0 or config.num_symbols <= 0:
        raise ModelError(f"Piper voice settings {config_path} name no usable sample rate or phonemes")
    return config


def _open_session(model_path: Path, threads: int) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    if threads > 0:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own pybind classes (InvalidProtobuf, Fail, ...)
        raise ModelError(
            f"Piper voice model {model_path} cannot be loaded ({type(exc).__name__}); "
            "the file is damaged or not a Piper voice: reinstall it"
        ) from exc


class PiperSpeaker:
    """One loaded Piper voice. `synthesize` may be called from a worker thread (onnxruntime sessions
    are thread-safe and Piper serialises its espeak phonemizer itself)."""

    def __init__(self, voice: PiperVoice, name: str, length_scale: float | None = None) -> None:
        self._voice = voice
        self.name = name
        self.sample_rate: int = voice.config.sample_rate
        self._syn_config = SynthesisConfig(length_scale=length_scale)

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        """Yield int16 mono chunks for `text` (Piper makes one chunk per sentence it finds)."""
        if not any(ch.isalnum() for ch in text):
            return
        for chunk in self._voice.synthesize(text, syn_config=self._syn_config):
            samples: np.ndarray = chunk.audio_int16_array
            if samples.size:
                yield samples

    def voice_info(self) -> dict[str, Any]:
        return {"name": self.name, "sample_rate": self.sample_rate,
                "language": self._voice.config.espeak_voice}


def load(model_path: Path, threads: int = 0, length_scale: float | None = None) -> PiperSpeaker:
    """Load a voice from its .onnx file (settings next to it as .onnx.json) or from its folder.

    `threads` caps onnxruntime's intra-op threads; 0 keeps onnxruntime's default (all cores).
    """
    started = time.perf_counter()
    onnx_path, config_path = _voice_files(Path(model_path))
    config = _read_config(config_path)
    session = _open_session(onnx_path, threads)
    voice = PiperVoice(session=session, config=config)
    speaker = PiperSpeaker(voice, onnx_path.stem, length_scale)
    logger.info("loaded Piper voice %s (%d Hz) in %.2f s", onnx_path.name, speaker.sample_rate,
                time.perf_counter() - started)
    return speaker


__all__ = ["PiperSpeaker", "load"]
