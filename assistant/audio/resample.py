"""Streaming sample-rate conversion to 16 kHz (what the speech model expects), in plain numpy.

A polyphase FIR: the input is (conceptually) upsampled by `up`, low-pass filtered with one
Kaiser-windowed sinc and decimated by `down`, where up/down is the reduced ratio of the two rates.
Only the taps that meet a real input sample are computed, so 44.1 kHz → 16 kHz (up 160, down 441)
costs about 130 multiply-adds per output sample. The filter state is the tail of the input, so the
microphone's blocks can be converted as they arrive and the concatenated output equals a one-shot
conversion of the whole clip. The filter's delay is compensated: output sample n is aligned with
input time n / out_rate, and the total length is ceil(len(x) * out_rate / in_rate).
"""

from __future__ import annotations

from math import gcd

import numpy as np

TARGET_RATE = 16_000
# Outputs computed per vectorised step: bounds the (outputs × taps) gather matrix for long clips.
_BATCH = 4096


def _design_polyphase(up: int, down: int, half_width: int, cutoff: float, beta: float) -> np.ndarray:
    """Return the low-pass filter split into `up` phases, shape (up, taps_per_phase)."""
    widest = max(up, down)
    half_len = half_width * widest
    n = np.arange(-half_len, half_len + 1, dtype=np.float64)
    # Cut-off relative to the lower of the two Nyquist frequencies, in cycles per upsampled sample;
    # slightly below Nyquist so the transition band ends near it (β=8: ≈80 dB stop-band).
    fc = cutoff * 0.5 / widest
    h = 2.0 * fc * np.sinc(2.0 * fc * n) * np.kaiser(n.size, beta)
    h *= up / h.sum()  # unity gain at DC after the zero-stuffing by `up`
    taps = -(-h.size // up)
    padded = np.zeros(taps * up)
    padded[: h.size] = h
    # poly[r, k] = h[r + k*up]: the taps that meet input samples i_max, i_max-1, ... for phase r.
    return padded.reshape(taps, up).T.astype(np.float32).copy()


class StreamingResampler:
    """Convert mono float32 blocks from `in_rate` to `out_rate`, keeping filter state between blocks."""

    def __init__(
        self,
        in_rate: float,
        out_rate: int = TARGET_RATE,
        *,
        half_width: int = 24,
        cutoff: float = 0.9,
        beta: float = 8.0,
    ) -> None:
        in_rate_int = round(in_rate)
        if in_rate_int <= 0 or out_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {in_rate} → {out_rate}")
        common = gcd(in_rate_int, out_rate)
        self.in_rate = in_rate_int
        self.out_rate = out_rate
        self._up = out_rate // common
        self._down = in_rate_int // common
        self._passthrough = self._up == self._down
        self._half_len = half_width * max(self._up, self._down)
        self._poly = _design_polyphase(self._up, self._down, half_width, cutoff, beta)
        self._taps = self._poly.shape[1]
        # Input kept for the filter: samples buf_start .. total_in-1; negative indices are the zeros
        # before the clip started.
        self._buf = np.zeros(self._taps - 1, dtype=np.float32)
        self._buf_start = -(self._taps - 1)
        self._total_in = 0
        self._n_out = 0
        self._flushed = False

    def process(self, block: np.ndarray) -> np.ndarray:
        """Feed the next block; return every output sample that can now be computed."""
        if self._flushed:
            raise RuntimeError("resampler already flushed")
        x = np.asarray(block, dtype=np.float32).reshape(-1)
        if self._passthrough:
            self._total_in += x.size
            return x.copy()
        self._buf = np.concatenate([self._buf, x])
        self._total_in += x.size
        # Output n needs input up to i_max(n) = (n*down + half_len) // up, which must already exist.
        n_end = (self._total_in * self._up - 1 - self._half_len) // self._down + 1
        return self._emit(max(n_end, self._n_out))

    def flush(self) -> np.ndarray:
        """End of stream: return the remaining outputs, treating the future input as silence."""
        if self._flushed:
            return np.zeros(0, dtype=np.float32)
        self._flushed = True
        if self._passthrough:
            return np.zeros(0, dtype=np.float32)
        n_total = -(-self._total_in * self._up // self._down)
        self._buf = np.concatenate([self._buf, np.zeros(self._half_len // self._up + 2, np.float32)])
        return self._emit(n_total)

    def _emit(self, n_end: int) -> np.ndarray:
        pieces = []
        offsets = np.arange(self._taps)
        for first in range(self._n_out, n_end, _BATCH):
            n = np.arange(first, min(first + _BATCH, n_end), dtype=np.int64)
            p = n * self._down + self._half_len
            i_max = p // self._up
            phase = p % self._up
            window = self._buf[(i_max - self._buf_start)[:, None] - offsets[None, :]]
            pieces.append(np.einsum("nk,nk->n", window, self._poly[phase]))
        self._n_out = max(self._n_out, n_end)
        # Drop input that no future output can reach.
        keep_from = (self._n_out * self._down + self._half_len) // self._up - self._taps + 1
        if keep_from > self._buf_start:
            self._buf = self._buf[keep_from - self._buf_start :]
            self._buf_start = keep_from
        if not pieces:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(pieces).astype(np.float32, copy=False)


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
