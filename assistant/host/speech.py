"""Spoken replies in the engine process: Piper synthesis on a thread of its own.

The request loop in `process.py` is serial and busy streaming the chat answer exactly while that
answer's sentences must be spoken, so SynthesizeRequests bypass it: the loop hands each one to this
worker the moment it reads it (between tokens too) and goes on. The worker loads a voice once, lazily,
serves requests in arrival order (so audio comes back in sentence order) and answers each with
SpeechAudio chunks and exactly one Done or Failed.

A Cancel is answered at once by the loop's thread, even while the worker is inside that sentence: a
Stop never waits for synthesis. The worker then drops whatever it was making for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.host.messages import Done, Event, Failed, SpeechAudio, SynthesizeRequest
from assistant.models import catalog
from assistant.protocols import GenerationStats

if TYPE_CHECKING:
    from assistant.engines.piper_tts import PiperSpeaker

logger = logging.getLogger(__name__)


class _Gone(Exception):
    """Sending failed: the GUI end of the pipe is closed, so the worker ends."""


class SpeechWorker:
    """Owns the loaded voices and the synthesis thread. `submit`, `cancel` and `close` are called from
    the request loop's thread; `send` must be safe to call from the worker thread too."""

    def __init__(self, send: Callable[[Event], None]) -> None:
        self._send = send
        # Guards the queue and the current request, and is held while sending for a request: a Done
        # sent by `cancel` can then never be followed by audio or a second terminal for the same id.
        self._lock = threading.Condition()
        self._queue: deque[SynthesizeRequest] = deque()
        self._current: int | None = None
        self._current_ended = False
        self._voices: dict[tuple[str, str, int], PiperSpeaker] = {}
        self._closing = False
        self._thread: threading.Thread | None = None

    def submit(self, request: SynthesizeRequest) -> None:
        with self._lock:
            if self._closing:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="speech-synthesis", daemon=True)
                self._thread.start()
            self._queue.append(request)  # request loop thread -> synthesis thread
            self._lock.notify()

    def cancel(self, request_id: int) -> bool:
        """Answer `request_id` 'stopped' now if it is a speech request still queued or running."""
        with self._lock:
            queued = next((r for r in self._queue if r.request_id == request_id), None)
            if queued is not None:
                self._queue.remove(queued)
            elif self._current != request_id or self._current_ended:
                return False
            else:
                self._current_ended = True  # the worker drops the rest of this sentence
            self._emit(Done(request_id, "stopped", GenerationStats()))
            return True

    def close(self, timeout_s: float = 1.0) -> None:
        """Drop queued sentences and let the thread end (it is a daemon: a long sentence cannot hang exit)."""
        with self._lock:
            self._closing = True
            self._queue.clear()
            self._lock.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout_s)

    # ---- synthesis thread ------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closing:
                    self._lock.wait()
                if self._closing:
                    return
                request = self._queue.popleft()
                self._current, self._current_ended = request.request_id, False
            try:
                self._serve(request)
            except _Gone:
                return
            finally:
                with self._lock:
                    self._current = None

    def _serve(self, request: SynthesizeRequest) -> None:
        rid = request.request_id
        try:
            speaker, load_s = self._voice(request)
            started, frames = time.perf_counter(), 0
            for samples in speaker.synthesize(request.text):
                with self._lock:
                    if self._current_ended or self._closing:
                        return  # cancelled: its Done went out already
                    self._emit(SpeechAudio(rid, samples, speaker.sample_rate))
                frames += len(samples)
        except _Gone:
            raise
        except catalog.ModelError as error:
            logger.warning("Speech request %d: bad voice: %s", rid, error)
            self._end(Failed(rid, str(error), kind="bad_model"))
            return
        except Exception as error:  # the engine process must survive any synthesis failure
            logger.exception("Speech request %d failed", rid)
            summary = f"{type(error).__name__}: {error}"
            summary = summary if len(summary) <= 300 else summary[:300] + "…"
            self._end(Failed(rid, f"The voice could not speak ({summary})."))
            return
        stats = GenerationStats(load_s=load_s, total_s=time.perf_counter() - started)
        stats.extra["audio_s"] = frames / speaker.sample_rate
        self._end(Done(rid, "complete", stats))

    def _end(self, event: Done | Failed) -> None:
        with self._lock:
            if not self._current_ended:
                self._current_ended = True
                self._emit(event)

    def _emit(self, event: Event) -> None:
        try:
            self._send(event)  # crosses the process boundary to the GUI's reader thread
        except Exception as error:
            raise _Gone() from error

    def _voice(self, request: SynthesizeRequest) -> tuple[PiperSpeaker, float]:
        """The voice `request` names (empty: the catalogue's default voice), loaded (and assembled from
        its package) on first use."""
        voice = request.voice or catalog.default_model("tts").name
        key = (voice, request.data_dir, request.threads)
        cached = self._voices.get(key)
        if cached is not None:
            return cached, 0.0
        from assistant.engines import piper_tts  # onnxruntime and piper are imported only here

        started = time.perf_counter()
        path = Path(voice).expanduser()
        if not path.exists():  # a catalogue name; a path is a user's own voice file or folder
            data_dir = Path(request.data_dir)
            path = catalog.ensure_model(catalog.find_model(voice, data_dir), data_dir)
        speaker = piper_tts.load(path, threads=request.threads)
        self._voices = {key: speaker}  # one voice at a time: a new choice frees the old one
        return speaker, time.perf_counter() - started
