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
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from assistant.protocols import Speaker
from assistant.speech_text import SentenceSplitter, clean_for_speech

logger = logging.getLogger(__name__)

NO_SPEAKER_NOTE = "No speaker found: answers are shown as text only."

class _SampleBuffer:
    """int16 samples waiting to be played; the PortAudio callback drains it, the worker fills it."""

    def __init__(self) -> None:
        self._chunks: deque[np.ndarray] = deque()
        self._lock = threading.Lock()
        self.frames = 0

    def push(self, samples: np.ndarray) -> None:
        with self._lock:
            self._chunks.append(samples)
            self.frames += len(samples)

    def clear(self) -> None:
        with self._lock:
            self._chunks.clear()
            self.frames = 0

    def read_into(self, out: np.ndarray) -> int:
        written = 0
        with self._lock:
            while written < len(out) and self._chunks:
                chunk = self._chunks[0]
                n = min(len(chunk), len(out) - written)
                out[written:written + n] = chunk[:n]
                written += n
                if n == len(chunk):
                    self._chunks.popleft()
                else:
                    self._chunks[0] = chunk[n:]
            self.frames -= written
        return written


def _load_sounddevice() -> Any | None:
    """The sounddevice module, or None when it or the PortAudio library it wraps (OSError) is missing."""
    try:
        import sounddevice
    except (OSError, ImportError) as exc:
        logger.info("no PortAudio library, replies stay text only: %s", exc)
        return None
    return sounddevice


def _as_int16(chunk: Any) -> np.ndarray:
    samples = np.asarray(chunk).reshape(-1)
    if samples.dtype == np.int16:
        return samples
    return (np.clip(samples.astype(np.float32), -1.0, 1.0) * 32767).astype(np.int16)


_END = object()  # queue marker: the answer is complete, stop the stream once it has played
_CLOSE = object()  # queue marker: end the worker thread


class SpokenReplies:
    """Speaks a streamed answer sentence by sentence; never raises into the caller.

    Call `feed`, `finish` and `stop` from one thread (the GUI thread). After `stop()`, `feed()` speaks
    again, so the caller must not feed the rest of a stopped answer. `on_note` is called at most once,
    from the worker thread, when there is no speaker; answers then stay text only.
    `output` is a sounddevice-like module (`query_devices`, `OutputStream`); None loads sounddevice.
    """

    def __init__(self, speaker: Speaker, output: Any | None = None,
                 on_note: Callable[[str], None] | None = None, blocksize: int = 1024) -> None:
        self._speaker = speaker
        self._output = output
        self._on_note = on_note
        self._blocksize = blocksize
        self._splitter = SentenceSplitter()
        self._queue: queue.Queue[tuple[int, object]] = queue.Queue()
        self._buffer = _SampleBuffer()
        self._lock = threading.Lock()  # guards _generation and _pending against the worker
        self._stream_lock = threading.Lock()  # PortAudio stream calls from the caller and the worker
        self._generation = 0
        self._stream: Any = None
        self._text_only = False
        self._pending = 0  # items queued or being handled
        self._worker: threading.Thread | None = None

    @property
    def text_only(self) -> bool:
        return self._text_only

    def feed(self, piece: str) -> None:
        if not self._text_only:
            for sentence in self._splitter.feed(piece):
                self._enqueue(sentence)

    def finish(self) -> None:
        """The answer is complete: speak what is left, then let the stream go quiet."""
        if not self._text_only:
            for sentence in self._splitter.flush():
                self._enqueue(sentence)
            self._enqueue(_END)

    def stop(self) -> None:
        """Silence now: queued sentences and buffered audio are dropped, the stream is aborted."""
        with self._lock:
            self._generation += 1
            self._buffer.clear()
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
                self._pending -= 1
        self._splitter.reset()
        with self._stream_lock:
            try:
                if self._stream is not None and self._stream.active:
                    self._stream.abort()  # returns once PortAudio's callback thread is stopped
            except Exception:  # a sound card gone mid-answer: the buffer is empty, so it is silent
                logger.exception("aborting the audio stream failed")

    @property
    def queued(self) -> int:
        """Sentences (and end markers) waiting for the worker, not counting the one it is on."""
        return self._queue.qsize()

    def is_idle(self) -> bool:
        """Nothing queued, nothing being synthesised, nothing left to play."""
        return self._pending == 0 and self._buffer.frames == 0

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
        with self._stream_lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.close()
            except Exception:
                logger.exception("closing the audio stream failed")

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
        if not self._ensure_stream():
            return
        assert isinstance(item, str)
        for chunk in self._speaker.synthesize(item):
            samples = _as_int16(chunk)
            with self._lock:
                if generation != self._generation:
                    return  # stopped while synthesising: drop the audio
                self._buffer.push(samples)
            with self._stream_lock:  # re-checked here: a stop() in between must not restart the stream
                if generation == self._generation and self._stream is not None and not self._stream.active:
                    self._stream.start()

    def _drain(self, generation: int) -> None:
        while self._buffer.frames and generation == self._generation:
            time.sleep(0.02)
        with self._stream_lock:
            idle = self._queue.empty() and generation == self._generation
            if idle and self._stream is not None and self._stream.active:
                self._stream.stop()  # plays out what PortAudio already holds

    def _ensure_stream(self) -> bool:
        if self._stream is not None or self._text_only:
            return self._stream is not None
        output = self._output if self._output is not None else _load_sounddevice()
        try:
            if output is None:
                raise OSError("sounddevice/PortAudio is not available")
            output.query_devices(kind="output")
            stream = output.OutputStream(samplerate=self._speaker.sample_rate, channels=1,
                                         dtype="int16", blocksize=self._blocksize, callback=self._play)
        except Exception as exc:  # PortAudioError, ValueError, OSError: all mean "no speaker here"
            logger.info("no audio output, replies stay text only: %r", exc)
            self._go_text_only()
            return False
        with self._stream_lock:
            self._stream = stream
        return True

    def _go_text_only(self) -> None:
        self._text_only = True
        self._buffer.clear()
        if self._on_note is not None:
            try:
                self._on_note(NO_SPEAKER_NOTE)  # runs on the worker thread: the GUI must queue it
            except Exception:
                logger.exception("on_note failed")

    def _play(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        # PortAudio's audio thread: copy ready samples and pad with silence, nothing slower.
        written = self._buffer.read_into(outdata[:, 0])
        if written < frames:
            outdata[written:] = 0


__all__ = ["NO_SPEAKER_NOTE", "SentenceSplitter", "SpokenReplies", "clean_for_speech"]
