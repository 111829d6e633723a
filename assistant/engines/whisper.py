"""Speech to text with faster-whisper (implements `protocols.SpeechToText`).

Beyond "call the library":
- the model is always opened from a local folder, never by name: a name makes faster-whisper go to the
  Hugging Face hub, which must never happen in this app (and fails offline);
- a folder without tokenizer.json is refused for the same reason (faster-whisper would download one);
- long audio is transcribed window by window (`transcribe_stream`), each window cut at the quietest
  moment near its end, so memory stays bounded and words are rarely split across windows.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel

from assistant.audio.errors import LanguageError
from assistant.engines import whisper_short
from assistant.engines.audio_decode import SAMPLE_RATE, as_samples
from assistant.engines.whisper_decoding import decoding, heard_nothing
from assistant.engines.whisper_one_encode import OneEncodeWhisperModel, plain_view
from assistant.models import catalog
from assistant.models.catalog import ModelError
from assistant.protocols import Segment, TranscriptionInfo, TranscriptionOptions

logger = logging.getLogger(__name__)

REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")
WINDOW_S = 30.0  # Whisper's own input length: one window is one encoder pass
SEARCH_S = 5.0  # how far back from a window's end to look for a pause to cut at
FRAME = SAMPLE_RATE // 10  # 100 ms energy frames for finding that pause
SEED = 14


def default_threads() -> int:
    """CPUs this process may use, capped: CTranslate2 gains little beyond a few threads per model."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cpus, 8))


class WhisperSpeech:
    """One loaded Whisper model. Not thread-safe: the engine process drives it from one thread."""

    def __init__(self, model: WhisperModel, name: str, folder: Path, threads: int, load_s: float) -> None:
        self._model = model
        self.name = name
        self.folder = folder
        self.threads = threads
        self.load_s = load_s
        # Segments that came from Whisper's temperature fallback, i.e. a random draw rather than the beam
        # search: `bench voice --accuracy` tells such draws from decoding differences with it.
        self.sampled_segments = 0

    @classmethod
    def load(cls, folder: str | Path, *, name: str | None = None, threads: int = 0) -> WhisperSpeech:
        folder = Path(folder)
        if not folder.is_dir():
            raise ModelError(f"speech model folder {folder} does not exist")
        missing = [f for f in REQUIRED_FILES if not (folder / f).is_file()]
        if missing:
            raise ModelError(
                f"speech model folder {folder} lacks {', '.join(missing)}; "
                "it needs a faster-whisper (CTranslate2) model with its tokenizer"
            )
        threads = threads if threads > 0 else default_threads()
        # Whisper's temperature fallback samples (noisy audio reaches it): with a fixed seed, set before
        # CTranslate2's worker threads draw their first number, an engine process transcribes the same
        # recordings the same way on every run (and `bench voice --accuracy` repeats its numbers).
        ctranslate2.set_random_seed(SEED)
        started = time.perf_counter()
        try:
            # A str path to an existing folder: faster-whisper opens it as is, with no hub lookup.
            model = OneEncodeWhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=threads)
        except (RuntimeError, ValueError, OSError) as error:
            raise ModelError(f"speech model in {folder} could not be loaded ({error})") from error
        load_s = time.perf_counter() - started
        logger.info("Loaded speech model %s in %.2f s (%d threads)", folder, load_s, threads)
        return cls(model, name or folder.name, folder, threads, load_s)

    @classmethod
    def open(
        cls, model: str, data_dir: Path, threads: int = 0, progress: catalog.Progress | None = None
    ) -> WhisperSpeech:
        """Load a catalogue model by name (assembling it on first use) or the user's own model folder."""
        folder = Path(model).expanduser()
        if folder.is_dir():
            return cls.load(folder, name=folder.name, threads=threads)
        entry = catalog.find_model(model, data_dir)
        if entry.role != "stt":
            raise ModelError(f"{entry.name} is not a speech model; choose one such as whisper-base")
        return cls.load(catalog.ensure_model(entry, data_dir, progress), name=entry.name, threads=threads)

    @property
    def library_model(self) -> WhisperModel:
        """Plain faster-whisper on the same loaded weights (benchmarks compare the app against it)."""
        return plain_view(self._model)

    @property
    def multilingual(self) -> bool:
        return bool(self._model.model.is_multilingual)

    @property
    def languages(self) -> list[str]:
        return list(self._model.supported_languages)

    def check_options(self, options: TranscriptionOptions) -> None:
        """Refuse an unknown language code up front, with a message instead of a library traceback."""
        if options.language and options.language not in self.languages:
            raise LanguageError(options.language, self.multilingual)

    def transcribe(
        self, audio: Any, options: TranscriptionOptions, info: TranscriptionInfo
    ) -> Iterator[Segment]:
        """Yield segments as Whisper decodes them (the library's generator, passed through lazily).

        `info` is filled before the first segment: by then language detection and VAD have run.
        """
        self.check_options(options)
        samples = as_samples(audio)
        settings = decoding(options)  # the one place that chooses how (files and push-to-talk alike)
        if settings.short_context and whisper_short.fits(samples):
            try:
                yield from whisper_short.transcribe_short(self._model, samples, settings, info)
                return
            except whisper_short.Unreliable as doubt:
                logger.info("Short-context decode not trusted (%s); decoding the full window", doubt)
        segments, detected = self._model.transcribe(samples, **settings.library_kwargs())
        info.language = detected.language
        info.language_probability = float(detected.language_probability)
        info.duration_s = float(detected.duration)
        for segment in segments:
            text = segment.text.strip()
            if segment.temperature:
                self.sampled_segments += 1
                logger.debug("Segment sampled at temperature %.1f: %r", segment.temperature, text)
            if heard_nothing(text, segment.no_speech_prob, segment.avg_logprob, settings.hotwords):
                logger.info("Not speech (no-speech %.2f, log-probability %.2f): %r dropped",
                            segment.no_speech_prob, segment.avg_logprob, text)
            elif text:
                yield Segment(float(segment.start), float(segment.end), text)

    def transcribe_stream(
        self,
        chunks: Iterable[np.ndarray],
        options: TranscriptionOptions,
        info: TranscriptionInfo,
        on_chunk: Callable[[float], None] | None = None,
        window_s: float = WINDOW_S,
    ) -> Iterator[Segment]:
        """Transcribe audio that arrives in chunks (a long file), one ≤ 30 s window at a time.

        Segment times are from the start of the whole stream. `on_chunk(seconds_so_far)` runs after
        each chunk arrives; it may raise to stop (that is how Cancel works between chunks). The language
        is detected per window until a window yields speech, then kept for the rest, so a silent intro
        cannot fix the wrong language and one file never switches language halfway.
        """
        self.check_options(options)
        window = int(window_s * SAMPLE_RATE)
        buffer = np.zeros(0, dtype=np.float32)
        offset = 0  # samples before `buffer`
        received = 0
        fixed = options.language is not None
        for chunk in chunks:
            chunk = as_samples(chunk)
            received += len(chunk)
            if on_chunk is not None:
                on_chunk(received / SAMPLE_RATE)
            buffer = np.concatenate((buffer, chunk))
            while len(buffer) >= window:
                cut = quiet_cut(buffer, window)
                for segment in self._window(buffer[:cut], offset, options, info):
                    if not fixed:
                        options, fixed = dataclasses.replace(options, language=info.language), True
                    yield segment
                buffer, offset = buffer[cut:], offset + cut
        if len(buffer):
            yield from self._window(buffer, offset, options, info)
        info.duration_s = max(info.duration_s, received / SAMPLE_RATE)

    def _window(
        self,
        samples: np.ndarray,
        offset: int,
        options: TranscriptionOptions,
        info: TranscriptionInfo,
    ) -> Iterator[Segment]:
        local = TranscriptionInfo()
        shift = offset / SAMPLE_RATE
        for index, segment in enumerate(self.transcribe(samples, options, local)):
            # The stream's language is that of its first speech; later windows reuse it as given.
            if index == 0 and (options.language is None or not info.language):
                info.language, info.language_probability = local.language, local.language_probability
            yield Segment(segment.start + shift, segment.end + shift, segment.text)
        if not info.language:  # no speech anywhere yet: still report the best guess so far
            info.language, info.language_probability = local.language, local.language_probability


def quiet_cut(samples: np.ndarray, window: int) -> int:
    """Where to end a window: the middle of the quietest 100 ms in its last SEARCH_S seconds."""
    start = max(0, window - int(SEARCH_S * SAMPLE_RATE))
    region = samples[start:window]
    frames = len(region) // FRAME
    if frames == 0:
        return window
    energy = np.square(region[: frames * FRAME].reshape(frames, FRAME)).mean(axis=1)
    # The last of equally quiet frames: in a long silence, keep as much audio in this window as fits.
    quietest = frames - 1 - int(np.argmin(energy[::-1]))
    return start + quietest * FRAME + FRAME // 2
