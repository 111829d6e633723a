"""Speech to the sound card: int16 mono chunks queued on one callback OutputStream.

The sounddevice-like module is passed in (ARCHITECTURE.md, principle 5), so tests play into a fake.
Threads: the owner (the GUI thread, or a synthesis worker) calls `play`, `silence`, `pause`, `close`;
PortAudio's thread runs `_callback`, which only copies what is ready and pads with silence, so playing
never blocks the caller and a slow caller only means a short pause in the speech.
No speaker (no PortAudio library, no output device, a stream that will not open or start) means text
only: `on_note` is called once with `NO_SPEAKER_NOTE` and every later call is a cheap no-op.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

NO_SPEAKER_NOTE = "No speaker found: answers are shown as text only."


class SampleBuffer:
    """int16 samples waiting to be played; PortAudio's callback drains it, the owner fills it."""

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


def load_sounddevice() -> Any | None:
    """The sounddevice module, or None when it or the PortAudio library it wraps (OSError) is missing."""
    try:
        import sounddevice
    except (OSError, ImportError) as exc:
        logger.info("no PortAudio library, replies stay text only: %s", exc)
        return None
    return sounddevice


def as_int16(chunk: Any) -> np.ndarray:
    samples = np.asarray(chunk).reshape(-1)
    if samples.dtype == np.int16:
        return samples
    return (np.clip(samples.astype(np.float32), -1.0, 1.0) * 32767).astype(np.int16)


class SpeechOutput:
    """One mono int16 OutputStream, opened on first use; never raises into the caller.

    `output` is a sounddevice-like module (`query_devices`, `OutputStream`); None loads sounddevice.
    """

    def __init__(self, output: Any | None = None, on_note: Callable[[str], None] | None = None,
                 blocksize: int = 1024) -> None:
        self._output = output
        self._on_note = on_note
        self._blocksize = blocksize
        self._buffer = SampleBuffer()
        self._lock = threading.RLock()  # stream calls from the owner (abort/stop wait for the callback)
        self._stream: Any = None
        self._rate = 0
        self._text_only = False

    @property
    def text_only(self) -> bool:
        return self._text_only

    @property
    def pending_frames(self) -> int:
        """Samples queued but not yet handed to PortAudio."""
        return self._buffer.frames

    @property
    def playing(self) -> bool:
        with self._lock:
            return self._stream is not None and bool(self._stream.active)

    def available(self) -> bool:
        """Whether there is a speaker; checks the devices once, before any speech is made for it."""
        with self._lock:
            if self._text_only or self._stream is not None:
                return not self._text_only
            try:
                self._module().query_devices(kind="output")
            except Exception as exc:  # PortAudioError, OSError: all mean "no speaker here"
                self._go_text_only(exc)
                return False
            return True

    def open(self, sample_rate: int) -> bool:
        """Open the stream for `sample_rate` (reopened if the voice changes rate); False: text only."""
        with self._lock:
            if self._text_only:
                return False
            if self._stream is not None and self._rate == sample_rate:
                return True
            self._close_stream()
            try:
                output = self._module()
                output.query_devices(kind="output")
                self._stream = output.OutputStream(samplerate=sample_rate, channels=1, dtype="int16",
                                                   blocksize=self._blocksize, callback=self._callback)
            except Exception as exc:  # PortAudioError, ValueError, OSError
                self._go_text_only(exc)
                return False
            self._rate = sample_rate
            return True

    def play(self, samples: Any, sample_rate: int) -> bool:
        """Queue `samples` behind what is already playing and make sure the stream runs."""
        with self._lock:
            if not self.open(sample_rate):
                return False
            self._buffer.push(as_int16(samples))
            try:
                if not self._stream.active:
                    self._stream.start()
            except Exception as exc:  # the device went away since it was opened
                self._go_text_only(exc)
                return False
            return True

    def silence(self) -> None:
        """Stop at once: buffered audio is dropped and the stream aborted (not drained)."""
        with self._lock:
            self._buffer.clear()
            try:
                if self._stream is not None and self._stream.active:
                    self._stream.abort()  # returns once PortAudio's callback thread has stopped
            except Exception:  # a sound card gone mid-answer: the buffer is empty, so it is silent
                logger.exception("aborting the audio stream failed")

    def pause(self) -> None:
        """Nothing left to play: stop calling back (PortAudio plays out what it holds first)."""
        with self._lock:
            try:
                if self._buffer.frames == 0 and self._stream is not None and self._stream.active:
                    self._stream.stop()
            except Exception:
                logger.exception("stopping the audio stream failed")

    def close(self) -> None:
        with self._lock:
            self._buffer.clear()
            self._close_stream()

    def _module(self) -> Any:
        output = self._output if self._output is not None else load_sounddevice()
        if output is None:
            raise OSError("sounddevice/PortAudio is not available")
        self._output = output
        return output

    def _close_stream(self) -> None:
        stream, self._stream, self._rate = self._stream, None, 0
        if stream is not None:
            try:
                if stream.active:
                    stream.abort()
                stream.close()
            except Exception:
                logger.exception("closing the audio stream failed")

    def _go_text_only(self, reason: Exception) -> None:
        logger.info("no audio output, replies stay text only: %r", reason)
        self._text_only = True
        self._buffer.clear()
        self._close_stream()
        if self._on_note is not None:
            try:
                self._on_note(NO_SPEAKER_NOTE)  # on the caller's thread: a GUI must queue it if need be
            except Exception:
                logger.exception("on_note failed")

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        # PortAudio's audio thread: copy ready samples and pad with silence, nothing slower.
        written = self._buffer.read_into(outdata[:, 0])
        if written < frames:
            outdata[written:] = 0
