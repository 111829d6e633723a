"""Push-to-talk recording from the microphone into a 16 kHz mono float32 clip.

The sounddevice-like module is passed in (ARCHITECTURE.md, principle 5): tests drive the same code
with a fake device that feeds a file through the same callback. Threads: the caller's (GUI) calls
start/stop/health; PortAudio's runs `_callback`, which only mixes, copies and queues each block; the
recorder's converter thread drains the queue every 50 ms, resamples to 16 kHz, watches for faults
and calls `on_level` / `on_chunk` (so listeners never run on, or slow down, PortAudio's thread).
"""

from __future__ import annotations

import importlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from assistant.audio.resample import TARGET_RATE, BlockConverter, to_mono

log = logging.getLogger(__name__)

# PortAudio's PaErrorCode values that get their own handling.
PA_INVALID_CHANNEL_COUNT = -9998
PA_INVALID_SAMPLE_RATE = -9997
PA_DEVICE_UNAVAILABLE = -9985

_OFF = "push-to-talk is off. Connect one and restart, or type your question."
NO_LIBRARY = "The audio library (PortAudio) is missing: push-to-talk is off. Install libportaudio2."
NO_MICROPHONE = f"No microphone found: {_OFF}"
NO_INPUT = f"No microphone found (the sound devices here only play audio): {_OFF}"
BUSY = "The microphone is busy or unavailable — another app may be using it. Close it and try again."
SILENCE = "The microphone sends only silence — check that the app may use it (system privacy settings) \
and that it is not muted."
UNPLUGGED = "The microphone stopped sending audio (unplugged?)"

SILENCE_SECONDS = 1.0  # of exact zeros: muted or blocked (see BlockConverter)
STALL_SECONDS = 1.0  # without a callback while recording: the device went away
START_GRACE_SECONDS = 3.0  # for the first block: Bluetooth headsets take a while to switch profile
_FALLBACK_RATES = (48_000, 44_100, 16_000)


class MicrophoneError(Exception):
    """A microphone problem: `message` for the user, `reason` (no_device, busy, ...) for the code."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.message, self.reason = message, reason

    def __reduce__(self) -> tuple[type[MicrophoneError], tuple[str, str]]:
        # Custom __init__ arguments need this to survive pickling across the process boundary.
        return (MicrophoneError, (self.message, self.reason))


@dataclass(frozen=True)
class Recording:
    audio: np.ndarray  # float32, 16 kHz, mono
    seconds: float
    too_short: bool  # under min_seconds: the caller sends nothing
    warning: str | None  # SILENCE or UNPLUGGED, for the user
    reached_limit: bool = False  # stopped accepting audio at max_seconds


def load_sounddevice(module_name: str = "sounddevice") -> tuple[Any | None, str]:
    """Import sounddevice: (module, "") or (None, user-facing reason) when PortAudio is missing."""
    try:
        return importlib.import_module(module_name), ""
    except (OSError, ImportError) as exc:
        # sounddevice raises OSError when the PortAudio shared library cannot be found.
        log.warning("push-to-talk disabled: cannot import %s: %s", module_name, exc)
        return None, NO_LIBRARY


def _error_code(exc: BaseException) -> int | None:
    if len(exc.args) > 1 and isinstance(exc.args[1], int):
        return exc.args[1]
    # Some errors come with the text only (no code): recognise PortAudio's own wording.
    text = str(exc.args[0]) if exc.args else ""
    words = {"Invalid sample rate": PA_INVALID_SAMPLE_RATE, "Device unavailable": PA_DEVICE_UNAVAILABLE}
    return next((code for phrase, code in words.items() if phrase in text), None)


def _translate(exc: BaseException) -> MicrophoneError:
    if _error_code(exc) == PA_DEVICE_UNAVAILABLE:
        return MicrophoneError(BUSY, "busy")
    return MicrophoneError(f"The microphone could not be opened: {exc}", "portaudio")


def _call_safely(listener: Callable[[Any], None] | None, value: Any) -> None:
    # A failing listener (a meter, a live transcriber) must not end the recording.
    if listener is not None:
        try:
            listener(value)
        except Exception:
            log.exception("recorder listener %r failed", listener)


class Recorder:
    """Push-to-talk: start() opens the default microphone, stop() returns a 16 kHz mono Recording."""

    def __init__(
        self,
        sd_module: Any | None,
        *,
        max_seconds: float = 120.0,
        min_seconds: float = 0.3,
        on_level: Callable[[float], None] | None = None,
        on_chunk: Callable[[np.ndarray], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_seconds <= 0 or min_seconds < 0:
            raise ValueError("max_seconds must be positive and min_seconds non-negative")
        self._sd = sd_module
        self.max_seconds, self.min_seconds = max_seconds, min_seconds
        self._on_level, self._on_chunk, self._clock = on_level, on_chunk, clock
        self._stream: Any | None = None
        self._worker: threading.Thread | None = None
        self._reset(TARGET_RATE, 1)

    def _reset(self, rate: int, channels: int) -> None:
        self.samplerate, self.channels = rate, channels
        self._queue: queue.SimpleQueue[tuple[np.ndarray, str | None]] = queue.SimpleQueue()
        self._done = threading.Event()
        self._chunks: list[np.ndarray] = []
        self._converter = BlockConverter(rate, silence_seconds=SILENCE_SECONDS)
        self._limit_frames = max(1, round(self.max_seconds * rate))
        # Written only on PortAudio's thread, read elsewhere (plain ints/bools/floats: GIL-atomic).
        self._frames_in = 0
        self._accepting = self._reached_limit = False
        self._last_callback = self._clock() + START_GRACE_SECONDS - STALL_SECONDS
        self._stalled = False  # written only on the converter thread

    def availability(self) -> tuple[bool, str]:
        """Whether push-to-talk can work here, and why not when it cannot."""
        try:
            self._input_device()
        except MicrophoneError as exc:
            return False, exc.message
        return True, ""

    is_recording = property(lambda self: self._stream is not None)
    reached_limit = property(lambda self: self._reached_limit)
    level = property(lambda self: self._converter.level)  # the last meter reading, in [0, 1]

    def remaining_seconds(self) -> float:
        """Seconds left before max_seconds (for a countdown); 0 once the limit is reached."""
        if self._reached_limit:
            return 0.0
        return max(0.0, self.max_seconds - self._frames_in / self.samplerate)

    def health(self) -> str | None:
        """A user-facing problem with the running recording, or None while all is well."""
        if self._stream is None:
            return None
        if self._stalled or self._clock() - self._last_callback > STALL_SECONDS:
            return UNPLUGGED
        return SILENCE if self._converter.silent else None

    def start(self) -> None:
        if self._stream is not None:
            raise RuntimeError("already recording")
        stream, rate, channels = self._open()
        self._reset(rate, channels)
        self._accepting = True
        try:
            stream.start()
        except Exception as exc:
            self._accepting = False
            self._close_quietly(stream)
            raise _translate(exc) from exc
        self._stream = stream
        self._worker = threading.Thread(target=self._convert_loop, name="recorder-convert", daemon=True)
        self._worker.start()
        log.info("recording from the microphone at %d Hz, %d channel(s)", rate, channels)

    def stop(self) -> Recording:
        """Close the stream at once, finish converting what arrived and return the clip."""
        stream, self._stream = self._stream, None
        if stream is None:
            raise RuntimeError("not recording")
        stalled = self._clock() - self._last_callback > STALL_SECONDS
        self._accepting = False
        # Once stop()/close() return, PortAudio calls the callback no more: the queue is complete.
        self._close_quietly(stream)
        self._done.set()
        if self._worker is not None:
            # Hand-over to the converter thread: it drains the queue, flushes the filter and exits.
            self._worker.join(timeout=5.0)
            if self._worker.is_alive():
                log.error("audio converter thread did not finish; the clip may be incomplete")
            self._worker = None
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.float32)
        seconds = audio.size / TARGET_RATE
        silence = SILENCE if self._converter.silence_seen else None
        warning = UNPLUGGED if stalled or self._stalled else silence
        if warning or self._reached_limit:
            log.warning("recording problem: %s (limit reached: %s)", warning, self._reached_limit)
        return Recording(audio, seconds, seconds < self.min_seconds, warning, self._reached_limit)

    def _input_device(self) -> tuple[int | None, dict[str, Any]]:
        if self._sd is None:
            raise MicrophoneError(NO_LIBRARY, "no_library")
        try:
            devices = [dict(d) for d in self._sd.query_devices()]
        except Exception as exc:
            log.warning("cannot list audio devices: %s", exc)
            devices = []
        if not devices:
            raise MicrophoneError(NO_MICROPHONE, "no_device")
        inputs = [(i, d) for i, d in enumerate(devices) if int(d.get("max_input_channels", 0)) > 0]
        if not inputs:
            raise MicrophoneError(NO_INPUT, "no_input")
        try:
            info = dict(self._sd.query_devices(kind="input"))
            if int(info.get("max_input_channels", 0)) > 0:
                return info.get("index"), info
        except Exception as exc:
            # No default input configured: fall back to the first device that can record.
            log.info("no default input device (%s); using %s", exc, inputs[0][1].get("name"))
        position, info = inputs[0]
        return info.get("index", position), info

    def _open(self) -> tuple[Any, int, int]:
        """Open at the device's own rate; on a refused rate or channel count, try the next one."""
        index, info = self._input_device()
        default_rate = round(float(info.get("default_samplerate") or _FALLBACK_RATES[0]))
        rates = list(dict.fromkeys([default_rate, *_FALLBACK_RATES]))
        max_channels = int(info.get("max_input_channels", 1))
        last_error: BaseException | None = None
        for rate in rates:
            for channels in [1] if max_channels <= 1 else [1, max_channels]:
                try:
                    stream = self._sd.InputStream(
                        device=index, samplerate=rate, channels=channels, dtype="float32",
                        callback=self._callback,
                    )  # fmt: skip
                    return stream, rate, channels
                except Exception as exc:
                    code = _error_code(exc)
                    if code not in (PA_INVALID_SAMPLE_RATE, PA_INVALID_CHANNEL_COUNT):
                        raise _translate(exc) from exc
                    log.info("microphone refused %d Hz, %d channel(s): %s", rate, channels, exc)
                    last_error = exc
                    if code == PA_INVALID_SAMPLE_RATE:
                        break  # the channel count is not the problem: try the next rate
        message = f"The microphone accepts none of the rates tried ({', '.join(map(str, rates))} Hz)"
        raise MicrophoneError(f"{message}: {last_error}", "unsupported")

    @staticmethod
    def _close_quietly(stream: Any) -> None:
        # An unplugged device may fail to stop; what was recorded is kept either way.
        for action in (stream.stop, stream.close):
            try:
                action()
            except Exception as exc:
                log.warning("closing the microphone stream: %s", exc)

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        # Runs on PortAudio's thread: mix, copy and queue the block; no logging, no waiting.
        self._last_callback = self._clock()
        take = min(frames, self._limit_frames - self._frames_in) if self._accepting else 0
        if take <= 0:
            return
        block = to_mono(indata[:take])  # a new array: PortAudio reuses indata's memory
        self._frames_in += take
        if self._frames_in >= self._limit_frames:
            self._accepting, self._reached_limit = False, True
        self._queue.put((block, str(status) if status else None))  # to the converter thread

    def _convert_loop(self) -> None:
        # Runs on the recorder's converter thread, between PortAudio's copies and the listeners.
        while True:
            finishing = self._done.wait(0.05)  # batches blocks: listeners hear at most 20 times/s
            blocks = [self._queue.get() for _ in range(self._queue.qsize())]  # the only consumer
            if blocks:
                self._convert(blocks)
            if not self._stalled and self._clock() - self._last_callback > STALL_SECONDS:
                self._stalled = True
                log.warning("no audio from the microphone for over %.1f s", STALL_SECONDS)
            if finishing:
                break
        self._deliver(self._converter.finish())

    def _convert(self, blocks: list[tuple[np.ndarray, str | None]]) -> None:
        for status in {status for _, status in blocks if status}:
            log.warning("microphone stream status: %s", status)  # e.g. "input overflow"
        chunk = self._converter.feed(np.concatenate([block for block, _ in blocks]))
        _call_safely(self._on_level, self._converter.level)
        self._deliver(chunk)

    def _deliver(self, chunk: np.ndarray) -> None:
        if chunk.size:
            self._chunks.append(chunk)
            _call_safely(self._on_chunk, chunk)
