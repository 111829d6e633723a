"""Speech to text in the engine process: `TranscribeRequest` → TranscriptionStarted, Transcript per
segment, Done (host/process.py hands the request here).

Whisper models are kept per name next to the chat model (push-to-talk must not reload either); the
ML library and the audio decoder are imported on the first request only. English text has its clock
times, money and percentages written as a user types them (`voice/spoken_numbers.py`), for files and
push-to-talk alike. Audio is decoded 30 s at a
time and transcribed window by window, so memory stays bounded for a recording of any length, and
Cancel is honoured between chunks and between segments.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from assistant.host.messages import Done, Event, Progress, TranscribeRequest, Transcript, TranscriptionStarted
from assistant.models import catalog
from assistant.protocols import GenerationStats, TranscriptionInfo
from assistant.voice.spoken_numbers import normalise_numbers

if TYPE_CHECKING:
    from assistant.engines.whisper import WhisperSpeech


class _Cancelled(Exception):
    """Cancel arrived between two decoded chunks."""


class Transcription:
    def __init__(self, send: Callable[[Event], None], check_cancel: Callable[[int], bool],
                 assembly_progress: Callable[[int], catalog.Progress]) -> None:
        self.send = send
        self.check_cancel = check_cancel
        self.assembly_progress = assembly_progress  # raises the server's stop when cancelled
        self.models: dict[str, WhisperSpeech] = {}

    def model(self, request: TranscribeRequest) -> tuple[WhisperSpeech, float]:
        """The cached model for `request.model` (empty: the catalogue's default speech model), loaded
        (and assembled) on first use; (model, load_s)."""
        name = request.model or catalog.default_model("stt").name
        cached = self.models.get(name)
        if cached is not None and request.threads in (0, cached.threads):
            return cached, 0.0
        from assistant.engines.whisper import WhisperSpeech  # the ML library is imported only here

        self.models.pop(name, None)  # free the old one first (other thread count)
        progress = self.assembly_progress(request.request_id)
        model = WhisperSpeech.open(name, Path(request.data_dir), request.threads, progress)
        self.models[name] = model
        self.send(Progress(request.request_id, "load", 1, 1, f"Loaded {model.name}"))
        return model, model.load_s

    def transcribe(self, request: TranscribeRequest) -> None:
        rid = request.request_id
        speech, load_s = self.model(request)
        from assistant.engines.audio_decode import open_source  # numpy and PyAV, loaded only here

        total, chunks = open_source(request.audio_path, request.audio, chunk_seconds=30.0)
        started, info, count = time.perf_counter(), TranscriptionInfo(duration_s=total), 0
        status: Literal["complete", "stopped"] = "complete"

        def on_chunk(seconds: float) -> None:  # between chunks: report and honour Cancel
            self.send(Progress(rid, "transcribe", round(seconds), round(total), "Transcribing"))
            if self.check_cancel(rid):
                raise _Cancelled()

        segments = speech.transcribe_stream(chunks, request.options, info, on_chunk)
        try:
            for segment in segments:
                if count == 0:
                    self.send(TranscriptionStarted(rid, info.language, info.language_probability, total))
                if info.language == "en" or request.options.task == "translate":  # English text
                    segment = replace(segment, text=normalise_numbers(segment.text))
                self.send(Transcript(rid, segment))
                count += 1
                if self.check_cancel(rid):  # between segments
                    status = "stopped"
                    break
        except _Cancelled:
            status = "stopped"
        finally:
            segments.close()
            chunks.close()
        if count == 0 and status == "complete":  # no speech at all: still say which language it guessed
            self.send(TranscriptionStarted(rid, info.language, info.language_probability, info.duration_s))
        stats = GenerationStats(load_s=load_s, total_s=time.perf_counter() - started)
        stats.extra.update(audio_s=info.duration_s or total, segments=float(count))
        stats.extra["real_time_factor"] = stats.total_s / max(stats.extra["audio_s"], 1e-9)
        self.send(Done(rid, status, stats))
