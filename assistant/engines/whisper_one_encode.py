"""faster-whisper's `WhisperModel`, with the first window encoded once when the language is detected.

faster-whisper 1.2.1's `transcribe(language=None)` encodes the first 30 s window in `detect_language`,
then encodes it again in `generate_segments` (it passes `encoder_output=None`). On this 2-core machine one
encoder pass of whisper-base is ~0.45 s, about half of a push-to-talk final pass, all of it after the
speaker stops. Here `detect_language` encodes exactly the input `generate_segments` will encode for its
first window and hands that output on, so detection costs the decoder's one language step.

The one difference from the library: its detection sees the window with the spectrogram's last frame
(which `generate_segments` leaves out, `content_frames = frames - 1`), this one sees the window the text
is decoded from. Decoding is bit-identical to the library's for the language detected. The detected
language was the library's on all 252 measuring clips with speech (probabilities differed by 0.13 at
most); past 30 s both see the same window. tests/engines/test_whisper_one_encode.py checks the decodings,
`assistant bench voice --accuracy` the transcripts against plain faster-whisper.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.audio import pad_or_trim


class _Encoded(threading.local):
    """The first window's encoder output, from `detect_language` to `generate_segments` on one thread."""

    features: np.ndarray | None = None
    output: ctranslate2.StorageView | None = None


class OneEncodeWhisperModel(WhisperModel):
    """A `WhisperModel` whose `transcribe` encodes the first window once, detected language or not."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._encoded = _Encoded()

    def detect_language(
        self,
        audio: np.ndarray | None = None,
        features: np.ndarray | None = None,
        vad_filter: bool = False,
        vad_parameters: Any = None,
        language_detection_segments: int = 1,
        language_detection_threshold: float = 0.5,
    ) -> tuple[str, float, list[tuple[str, float]]]:
        if audio is not None or features is None or language_detection_segments != 1:
            return super().detect_language(audio, features, vad_filter, vad_parameters,
                                           language_detection_segments, language_detection_threshold)
        # `transcribe` calls this with the whole spectrogram; this is generate_segments' first window.
        frames = min(self.feature_extractor.nb_max_frames, features.shape[-1] - 1)
        output = self.encode(pad_or_trim(features[:, :frames]))
        self._encoded.features, self._encoded.output = features, output
        results = self.model.detect_language(output)[0]
        # With one window the library's answer is its most likely language whatever the threshold.
        probabilities = [(token[2:-2], probability) for token, probability in results]
        language, probability = probabilities[0]
        return language, probability, probabilities

    def generate_segments(
        self,
        features: np.ndarray,
        tokenizer: Any,
        options: Any,
        log_progress: bool = False,
        encoder_output: ctranslate2.StorageView | None = None,
    ) -> Iterable[Any]:
        encoded, self._encoded.features, output = self._encoded.features, None, self._encoded.output
        self._encoded.output = None
        if (encoder_output is None and encoded is not None and encoded.shape == features.shape
                and np.shares_memory(encoded, features)):
            encoder_output = output  # the same spectrogram `detect_language` encoded just before
        return super().generate_segments(features, tokenizer, options, log_progress, encoder_output)


def plain_view(model: WhisperModel) -> WhisperModel:
    """The library's own `WhisperModel` on the same loaded weights: benchmarks measure the app against it."""
    view = WhisperModel.__new__(WhisperModel)
    view.__dict__.update(model.__dict__)
    return view
