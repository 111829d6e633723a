"""A sounddevice stand-in for machines without a microphone (CI has none).

`FakeSoundDevice` offers what the recorder uses from sounddevice — `query_devices()`, `default.device`,
`PortAudioError`, `InputStream` — and its stream feeds a given recording through the very callback
signature sounddevice uses, `callback(indata[frames, channels], frames, time_info, status)`, from its
own thread (as PortAudio does), in blocks paced in real time divided by `speed`. Switches simulate the
faults a real machine shows: no devices, output-only devices, a busy device, refused sample rates or
mono, a stream that stops delivering (unplugged) and input-overflow flags.

For spoken replies it also offers `OutputStream`: a speaker that pulls blocks through
`callback(outdata[frames, channels], frames, time_info, status)` from its own thread, at the same pace,
and keeps every block it was given (`played()`), so tests can tell speech from silence and see that
nothing more was played after a Stop.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class PortAudioError(Exception):
    """Same shape as sounddevice.PortAudioError: args = (text, PaErrorCode)."""

    def __str__(self) -> str:
        text = self.args[0] if self.args else ""
        return f"{text} [PaErrorCode {self.args[1]}]" if len(self.args) > 1 else str(text)


class FakeStatus:
    """Like sounddevice.CallbackFlags: falsy when nothing happened, str() names the flags."""

    def __init__(self, flags: str = "") -> None:
        self._flags = flags

    def __bool__(self) -> bool:
        return bool(self._flags)

    def __str__(self) -> str:
        return self._flags


def device(name: str, inputs: int, outputs: int, rate: float, index: int) -> dict[str, Any]:
    return {
        "name": name,
        "index": index,
        "hostapi": 0,
        "max_input_channels": inputs,
        "max_output_channels": outputs,
        "default_low_input_latency": 0.01,
        "default_high_input_latency": 0.1,
        "default_samplerate": float(rate),
    }


@dataclass
class _Default:
    device: list[int] = field(default_factory=lambda: [0, 1])


class FakeInputStream:
    def __init__(self, owner: FakeSoundDevice, *, samplerate: float, channels: int, dtype: str,
                 callback: Any, device: int | None = None, **_: Any) -> None:  # fmt: skip
        self.owner, self.samplerate, self.channels = owner, int(samplerate), channels
        self.dtype, self.callback, self.device = dtype, callback, device
        self.started = self.stopped = self.closed = False
        self.stop_called_at: float | None = None
        self.closed_at: float | None = None
        self.callbacks = 0
        self.exhausted = threading.Event()  # every frame of the recording has been delivered
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.started = True
        self._thread = threading.Thread(target=self._feed, name="fake-portaudio", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stop_called_at = time.monotonic()
        self._halt.set()
        # Like Pa_StopStream: no callback runs after this returns.
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self.stopped = True

    def close(self) -> None:
        if not self.stopped:
            self.stop()
        self.closed, self.closed_at = True, time.monotonic()

    @property
    def active(self) -> bool:
        return self.started and not self.stopped

    def _frames(self) -> np.ndarray:
        audio = np.asarray(self.owner.audio, dtype=np.float32)
        audio = audio[:, None] if audio.ndim == 1 else audio
        # Mono source, stereo stream: the same signal on every channel, as a real stereo mic roughly is.
        return np.repeat(audio[:, :1], self.channels, axis=1) if audio.shape[1] != self.channels else audio

    def _feed(self) -> None:
        # Runs on the fake's "PortAudio" thread, like the real callback.
        owner = self.owner
        frames = self._frames()
        block = max(1, round(self.samplerate * owner.block_seconds))
        rng = np.random.default_rng(0)
        period = owner.block_seconds / owner.speed
        next_time = time.monotonic()
        position = number = 0
        while not self._halt.is_set():
            if position >= len(frames):
                self.exhausted.set()
                if owner.tail == "none":
                    return  # the device went away: no more callbacks
                data = np.zeros((block, self.channels), np.float32)
                if owner.tail == "noise":
                    data += rng.normal(0, 1e-3, data.shape).astype(np.float32)
            else:
                data = np.ascontiguousarray(frames[position : position + block])
            position += len(data)
            status = FakeStatus("input overflow" if number in owner.overflow_blocks else "")
            self.callback(data, len(data), None, status)
            self.callbacks += 1
            number += 1
            next_time += period
            self._halt.wait(max(0.0, next_time - time.monotonic()))


class FakeOutputStream:
    """A speaker: like Pa_StopStream/Pa_AbortStream, stop() and abort() return with no callback left."""

    def __init__(self, owner: FakeSoundDevice, *, samplerate: float, channels: int, dtype: str,
                 callback: Any, blocksize: int = 0, device: int | None = None, **_: Any) -> None:  # fmt: skip
        self.owner, self.samplerate, self.channels = owner, int(samplerate), channels
        self.dtype, self.callback, self.device = dtype, callback, device
        self.blocksize = blocksize or 512
        self.starts = self.stops = self.aborts = 0
        self.closed = False
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._halt.is_set()

    def start(self) -> None:
        if self.closed:
            raise PortAudioError("Stream is closed", -9988)
        if self.active:
            raise PortAudioError("Stream is not stopped", -9983)
        self.starts += 1
        self._halt.clear()
        self._thread = threading.Thread(target=self._pull, name="fake-portaudio-out", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stops += 1
        self._halt_thread()

    def abort(self) -> None:
        self.aborts += 1
        self._halt_thread()

    def close(self) -> None:
        self._halt_thread()
        self.closed = True

    def _halt_thread(self) -> None:
        self._halt.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _pull(self) -> None:
        # Runs on the fake's "PortAudio" thread, like the real callback.
        owner = self.owner
        period = self.blocksize / self.samplerate / owner.speed
        next_time = time.monotonic()
        while not self._halt.is_set():
            # Garbage the callback must overwrite: a callback that leaves any would be heard.
            out = np.full((self.blocksize, self.channels), 12345, dtype=self.dtype)
            self.callback(out, self.blocksize, None, FakeStatus())
            owner.record_output(out[:, 0].copy())
            next_time += period
            self._halt.wait(max(0.0, next_time - time.monotonic()))


class FakeSoundDevice:
    """A module-like object: pass it to Recorder in place of `sounddevice`."""

    PortAudioError = PortAudioError

    def __init__(
        self,
        audio: np.ndarray | None = None,
        *,
        samplerate: float = 48_000,
        channels: int = 2,
        devices: list[dict[str, Any]] | None = None,
        speed: float = 1.0,
        block_seconds: float = 0.01,
        tail: str = "noise",  # after the audio: "noise" (a quiet room), "zeros", "none" (unplugged)
        busy: bool = False,
        supported_rates: set[int] | None = None,  # None: every rate; otherwise others get -9997
        refuse_mono: bool = False,
        open_error: PortAudioError | None = None,
        overflow_blocks: set[int] | None = None,
        output_error: PortAudioError | None = None,  # raised by OutputStream() (a speaker that fails)
    ) -> None:
        self.audio = np.zeros((0, channels), np.float32) if audio is None else audio
        self.samplerate = samplerate
        self.devices = (
            [device("Fake Microphone", channels, 0, samplerate, 0), device("Fake Speakers", 0, 2, 48_000, 1)]
            if devices is None
            else devices
        )
        self.default = _Default()
        self.speed, self.block_seconds, self.tail = speed, block_seconds, tail
        self.busy, self.supported_rates, self.refuse_mono = busy, supported_rates, refuse_mono
        self.open_error = open_error
        self.overflow_blocks = overflow_blocks or set()
        self.streams: list[FakeInputStream] = []
        self.open_attempts: list[tuple[int, int]] = []
        self.output_error = output_error
        self.output_streams: list[FakeOutputStream] = []
        self._played: list[np.ndarray] = []
        self._played_lock = threading.Lock()

    @classmethod
    def without_devices(cls) -> FakeSoundDevice:
        fake = cls(devices=[])
        fake.default.device = [-1, -1]
        return fake

    @classmethod
    def output_only(cls) -> FakeSoundDevice:
        fake = cls(devices=[device("HDMI Output", 0, 8, 48_000, 0), device("Speakers", 0, 2, 44_100, 1)])
        fake.default.device = [-1, 1]
        return fake

    def query_devices(self, device: int | None = None, kind: str | None = None) -> Any:
        if kind == "input":
            device = self.default.device[0]
        elif kind == "output":
            device = self.default.device[1]
        if device is None:
            return list(self.devices)
        if not 0 <= device < len(self.devices):
            raise PortAudioError(f"Error querying device {device}")
        return dict(self.devices[device])

    def InputStream(self, **kwargs: Any) -> FakeInputStream:  # sounddevice's own (class) name
        rate, channels = int(kwargs["samplerate"]), int(kwargs["channels"])
        self.open_attempts.append((rate, channels))
        index = kwargs.get("device")
        index = self.default.device[0] if index is None else index
        if not 0 <= index < len(self.devices) or self.devices[index]["max_input_channels"] < 1:
            raise PortAudioError(f"Error querying device {index}")
        if self.open_error is not None:
            raise self.open_error
        if self.busy:
            raise PortAudioError("Device unavailable", -9985)
        if self.supported_rates is not None and rate not in self.supported_rates:
            raise PortAudioError("Invalid sample rate", -9997)
        if channels > self.devices[index]["max_input_channels"] or (self.refuse_mono and channels == 1):
            raise PortAudioError("Invalid number of channels", -9998)
        stream = FakeInputStream(self, **kwargs)
        self.streams.append(stream)
        return stream

    def OutputStream(self, **kwargs: Any) -> FakeOutputStream:  # sounddevice's own (class) name
        index = kwargs.get("device")
        index = self.default.device[1] if index is None else index
        if not 0 <= index < len(self.devices) or self.devices[index]["max_output_channels"] < 1:
            raise PortAudioError(f"Error querying device {index}")
        if self.output_error is not None:
            raise self.output_error
        stream = FakeOutputStream(self, **kwargs)
        self.output_streams.append(stream)
        return stream

    def record_output(self, block: np.ndarray) -> None:
        with self._played_lock:
            self._played.append(block)

    def played(self) -> np.ndarray:
        """Every sample the speaker pulled from the callbacks, silence included (channel 0)."""
        with self._played_lock:
            return np.concatenate(self._played) if self._played else np.zeros(0, np.int16)

    def sounding_samples(self) -> int:
        return int(np.count_nonzero(self.played()))
