"""Spoken replies: streamed answer text → sentences → a `Speaker` → the sound card.

Speech starts while the answer is still streaming: `SentenceSplitter` (in `speech_text`) hands out
each sentence as soon as the text after it proves it ended, a worker thread synthesises it, and
PortAudio's callback thread plays what is ready. `stop()` silences at once (abort, not drain). No Qt
and no ML library here: the speaker and the sounddevice-like output module are passed in.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from assistant.audio.playback import NO_SPEAKER_NOTE, SpeechOutput
from assistant.protocols import Speaker
from assistant.voice.speech_text import SentenceSplitter, clean_for_speech

logger = logging.getLogger(__name__)

_END = object()  # queue marker: the answer is complete, stop the stream once it has played
_CLOSE = object()  # queue marker: end the worker thread


class SpokenReplies:
    """Speaks a streamed answer sentence by sentence in this process; never raises into the caller.

    The window does not use it (there, `ui/read_aloud.py` has the engine process synthesise): it is
    the in-process form, for callers that hold a `Speaker` themselves.
    Call `feed`, `finish` and `stop` from one thread. After `stop()`, `feed()` speaks again, so the
    caller must not feed the rest of a stopped answer. `on_note` is called at most once, from the
    worker thread, when there is no speaker; answers then stay text only.
    `output` is a sounddevice-like module (`query_devices`, `OutputStream`); None loads sounddevice.
    """

    def __init__(self, speaker: Speaker, output: Any | None = None,
                 on_note: Callable[[str], None] | None = None, blocksize: int = 1024) -> None:
        self._speaker = speaker
        self._out = SpeechOutput(output, on_note, blocksize)
        self._splitter = SentenceSplitter()
        self._queue: queue.Queue[tuple[int, object]] = queue.Queue()
        # Guards _generation and _pending against the worker, and is held around each play so that a
        # stop() in between cannot be followed by audio of the stopped answer.
        self._lock = threading.Lock()
        self._generation = 0
        self._pending = 0  # items queued or being handled
        self._worker: threading.Thread | None = None

    @property
    def text_only(self) -> bool:
        return self._out.text_only

    def feed(self, piece: str) -> None:
        if not self.text_only:
            for sentence in self._splitter.feed(piece):
                self._enqueue(sentence)

    def finish(self) -> None:
        """The answer is complete: speak what is left, then let the stream go quiet."""
        if not self.text_only:
            for sentence in self._splitter.flush():
                self._enqueue(sentence)
            self._enqueue(_END)

    def stop(self) -> None:
        """Silence now: queued sentences and buffered audio are dropped, the stream is aborted."""
        with self._lock:
            self._generation += 1
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
                self._pending -= 1
        self._splitter.reset()
        self._out.silence()

    @property
    def queued(self) -> int:
        """Sentences (and end markers) waiting for the worker, not counting the one it is on."""
        return self._queue.qsize()

    def is_idle(self) -> bool:
        """Nothing queued, nothing being synthesised, nothing left to play."""
        return self._pending == 0 and self._out.pending_frames == 0

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.is_idle():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self) -> None:
        self.stop()
        if self._worker is not None:
            self._queue.put((self._generation, _CLOSE))
            self._worker.join(timeout=5)
        self._out.close()

    def _enqueue(self, item: object) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._run, name="spoken-replies", daemon=True)
            self._worker.start()
        with self._lock:
            self._pending += 1
            # Caller thread -> worker thread: sentences travel tagged with the answer they belong to.
            self._queue.put((self._generation, item))

    def _run(self) -> None:
        while True:
            generation, item = self._queue.get()
            if item is _CLOSE:
                return
            try:
                if generation == self._generation:
                    self._handle(generation, item)
            except Exception:  # a bad sentence or a sound card error must not end the worker
                logger.exception("speaking a sentence failed")
            finally:
                with self._lock:
                    self._pending -= 1

    def _handle(self, generation: int, item: object) -> None:
        if item is _END:
            self._drain(generation)
            return
        # The stream opens before the first synthesis: no speaker, no wasted work.
        if not self._out.open(self._speaker.sample_rate):
            return
        assert isinstance(item, str)
        for chunk in self._speaker.synthesize(item):
            with self._lock:
                if generation != self._generation:
                    return  # stopped while synthesising: drop the audio
                self._out.play(chunk, self._speaker.sample_rate)

    def _drain(self, generation: int) -> None:
        while self._out.pending_frames and generation == self._generation:
            time.sleep(0.02)
        with self._lock:
            if self._queue.empty() and generation == self._generation:
                self._out.pause()  # plays out what PortAudio already holds


__all__ = ["NO_SPEAKER_NOTE", "SentenceSplitter", "SpokenReplies", "clean_for_speech"]
