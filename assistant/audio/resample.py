"""Streaming sample-rate conversion to 16 kHz (what the speech model expects), with FFmpeg's swresample.

The microphone's blocks are converted as they arrive, by PyAV's `AudioResampler`: the converter that
faster-whisper itself decodes files with (and that Whisper's training audio went through, via FFmpeg).
The app had its own polyphase FIR here (Kaiser-windowed sinc, cut-off at 0.9 of the new Nyquist): on the
measuring espeak-ng sets (22,050 Hz) plain faster-whisper given its samples made 69 word errors where it
made 61 on swresample's, 6.3 % against 3.5 % on "espeak en-us 175" alone (`bench voice --accuracy` feeds
push-to-talk through this module). swresample keeps its filter state between blocks, so the
concatenated output equals a one-shot conversion of the whole clip, and it compensates its own delay:
output sample n is the input at time n / 16 kHz.

Samples go through it as 16-bit integers, exactly as faster-whisper's own loader converts a file (and
as the engine decodes attached recordings): float output differed from the loader's by one step of
16 bits, and that flipped Whisper's near-ties (a held clip of "Can you explain why the sky..." was
detected as Welsh, at 0.33, where the file's samples gave English). A microphone's noise floor lies far
above 16-bit resolution, so nothing audible is lost.
"""

from __future__ import annotations

import numpy as np
from av import AudioFrame
from av.audio.resampler import AudioResampler

TARGET_RATE = 16_000
PCM16_SCALE = 32768.0  # faster-whisper's loader divides 16-bit samples by this


class StreamingResampler:
    """Convert mono float32 blocks from `in_rate` to `out_rate`, keeping filter state between blocks."""

    def __init__(self, in_rate: float, out_rate: int = TARGET_RATE) -> None:
        self.in_rate = round(in_rate)
        self.out_rate = out_rate
        if self.in_rate <= 0 or out_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {in_rate} → {out_rate}")
        self._passthrough = self.in_rate == out_rate
        self._resampler = AudioResampler(format="s16", layout="mono", rate=out_rate)
        self._flushed = False

    def process(self, block: np.ndarray) -> np.ndarray:
        """Feed the next block; return every output sample that can now be computed."""
        if self._flushed:
            raise RuntimeError("resampler already flushed")
        pcm = _to_pcm16(np.asarray(block, dtype=np.float32).reshape(-1))
        if self._passthrough or pcm.size == 0:
            return pcm.astype(np.float32) / PCM16_SCALE
        frame = AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.in_rate
        return _joined(self._resampler.resample(frame))

    def flush(self) -> np.ndarray:
        """End of stream: return the samples the filter still holds (the input after it taken as silence)."""
        if self._flushed or self._passthrough:
            self._flushed = True
            return np.zeros(0, dtype=np.float32)
        self._flushed = True
        return _joined(self._resampler.resample(None))


def _to_pcm16(x: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1) as 16-bit integers, rounded and clipped as FFmpeg converts them."""
    return np.clip(np.rint(x * PCM16_SCALE), -PCM16_SCALE, PCM16_SCALE - 1).astype(np.int16)


def _joined(frames: list[AudioFrame]) -> np.ndarray:
    if not frames:
        return np.zeros(0, dtype=np.float32)
    pcm = np.concatenate([frame.to_ndarray().reshape(-1) for frame in frames])
    return pcm.astype(np.float32) / PCM16_SCALE


def resample(audio: np.ndarray, in_rate: float, out_rate: int = TARGET_RATE) -> np.ndarray:
    """One-shot conversion of a mono clip (same result as streaming it block by block)."""
    resampler = StreamingResampler(in_rate, out_rate)
    return np.concatenate([resampler.process(audio), resampler.flush()])


def to_mono(frames: np.ndarray) -> np.ndarray:
    """Average the channels of a (frames, channels) array into a new float32 mono array."""
    data = np.asarray(frames, dtype=np.float32)
    if data.ndim == 1:
        return data.copy()
    if data.shape[1] == 1:
        return data[:, 0].copy()
    return data.mean(axis=1, dtype=np.float32)


def meter_level(mono: np.ndarray) -> float:
    """Loudness for a level meter, in [0, 1]: -60 dBFS (a quiet room) → 0, full scale → 1."""
    if mono.size == 0:
        return 0.0
    rms = float(np.sqrt(np.mean(np.square(mono, dtype=np.float64))))
    return float(np.clip((20.0 * np.log10(max(rms, 1e-9)) + 60.0) / 60.0, 0.0, 1.0))


class BlockConverter:
    """Microphone blocks → 16 kHz mono chunks, measured on the way (meter level, digital silence).

    A real microphone always has a noise floor, so a long run of exact zeros means it is muted or
    blocked by the system's privacy settings rather than that the room is quiet.
    """

    def __init__(self, in_rate: float, *, silence_seconds: float = 1.0) -> None:
        self._resampler = StreamingResampler(in_rate)
        self._silence_frames = silence_seconds * in_rate
        self.zero_run = 0  # exact zeros at the end of what was fed so far
        self.silence_seen = False  # a run of zeros longer than silence_seconds happened
        self.level = 0.0

    @property
    def silent(self) -> bool:
        return self.zero_run > self._silence_frames

    def feed(self, mono: np.ndarray) -> np.ndarray:
        nonzero = np.flatnonzero(mono)
        if nonzero.size:
            # The run of zeros ends inside this block; a new one may start after its last sample.
            self.silence_seen |= self.zero_run + int(nonzero[0]) > self._silence_frames
            self.zero_run = mono.size - 1 - int(nonzero[-1])
        else:
            self.zero_run += mono.size
        self.silence_seen |= self.silent
        self.level = meter_level(mono)
        return self._resampler.process(mono)

    def finish(self) -> np.ndarray:
        return self._resampler.flush()
