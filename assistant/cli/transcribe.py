"""`assistant transcribe FILE`: print a transcript as segments arrive, through the engine process.

The same path the window uses (engine child process, bundled model, chunked decoding), so this is also
the quickest way to check speech recognition on a machine. Transcript lines go to stdout; the detected
language, progress and errors go to stderr, so `assistant transcribe talk.mp3 > talk.txt` stays clean.
"""

from __future__ import annotations

import logging
import sys

from assistant import settings as settings_module
from assistant.host.client import EngineClient
from assistant.host.messages import (
    Done,
    Failed,
    Progress,
    TranscribeRequest,
    Transcript,
    TranscriptionStarted,
)
from assistant.protocols import TranscriptionOptions

logger = logging.getLogger(__name__)



def format_time(seconds: float) -> str:
    """mm:ss.s; minutes keep counting past 59 so a three-hour file still sorts and reads plainly."""
    tenths = max(0, round(seconds * 10))
    minutes, tenths = divmod(tenths, 600)
    return f"{minutes:02d}:{tenths // 10:02d}.{tenths % 10}"


def format_segment(start: float, end: float, text: str) -> str:
    return f"[{format_time(start)} → {format_time(end)}] {text}"


def transcribe_command(path: str, *, translate: bool, language: str | None, model: str | None) -> int:
    """Exit code 0 when the whole file was transcribed, 1 on an error, 130 when interrupted."""
    options = TranscriptionOptions(
        language=language.strip().lower() if language else None,
        task="translate" if translate else "transcribe",
    )
    data_dir = settings_module.data_dir()
    with EngineClient() as engine:
        # No --model: the engine takes the catalogue's default speech model.
        request = TranscribeRequest(model or "", str(data_dir), audio_path=path, options=options)
        events = engine.stream(request)
        try:
            for event in events:
                if isinstance(event, Transcript):
                    segment = event.segment
                    print(format_segment(segment.start, segment.end, segment.text), flush=True)
                elif isinstance(event, TranscriptionStarted):
                    print(_language_line(event), file=sys.stderr, flush=True)
                elif isinstance(event, Progress) and event.stage == "assemble" and event.total:
                    # First use of a bundled model: it is assembled from its package parts once.
                    percent = 100 * event.done // event.total
                    end = "\n" if event.done >= event.total else ""
                    print(f"\rPreparing the speech model: {percent}%", end=end, file=sys.stderr, flush=True)
                elif isinstance(event, Failed):
                    print(f"assistant: {event.message}", file=sys.stderr)
                    return 1
                elif isinstance(event, Done):
                    return 0 if event.status == "complete" else 130
        except KeyboardInterrupt:
            # Closing the event stream cancels the request and waits for the engine to confirm.
            events.close()
            print("assistant: stopped", file=sys.stderr)
            return 130
    return 1  # the stream ended without a terminal event (cannot happen; keep the exit code honest)


def _language_line(event: TranscriptionStarted) -> str:
    if not event.language:
        return "Language: unknown (no speech found)"
    if event.language_probability >= 1.0:
        return f"Language: {event.language}"
    return f"Language: {event.language} (detected, {event.language_probability:.0%} sure)"
