"""Sounds that are not speech for the speech sets: noise to mix in, and clips that must give no text.

numpy only (no signal-processing library): filters are applied in the frequency domain, every generator
takes its own seeded random generator, so each clip is the same on every machine and run.

- `white`, `pink`, `babble`: noise for mixing into speech at a chosen SNR (`mix_at_snr`);
- `non_speech_clips()`: silence, room noise, hum, clicks, typing, knocks, breaths and coughs (synthetic:
  no recordings of coughs or breaths ship in any package found; see README "Performance"), the clips
  on which push-to-talk and file transcription must produce no words at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

RATE = 16_000
Clip = np.ndarray  # float32, mono, 16 kHz


def _shape(noise: np.ndarray, gain: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Filter `noise` by a gain over frequency (Hz), applied to its spectrum."""
    spectrum = np.fft.rfft(noise)
    spectrum *= gain(np.fft.rfftfreq(noise.size, 1 / RATE))
    return np.fft.irfft(spectrum, n=noise.size)


def _normalised(samples: np.ndarray, peak: float) -> Clip:
    top = float(np.max(np.abs(samples))) or 1.0
    return (samples * (peak / top)).astype(np.float32)


def white(samples: int, rng: np.random.Generator) -> Clip:
    return rng.standard_normal(samples).astype(np.float32)


def pink(samples: int, rng: np.random.Generator) -> Clip:
    """1/f noise (more energy low down, like a fan, traffic or a busy room's rumble)."""
    shaped = _shape(rng.standard_normal(samples), lambda f: 1 / np.sqrt(np.maximum(f, 20.0)))
    return (shaped / np.std(shaped)).astype(np.float32)


def babble(talkers: Sequence[Clip], samples: int, rng: np.random.Generator) -> Clip:
    """Several voices at once, each looped from a random start, summed: the noise of a café or office."""
    mixed = np.zeros(samples, np.float64)
    for voice in talkers:
        start = int(rng.integers(0, max(1, voice.size)))
        looped = np.resize(np.roll(voice, -start), samples)
        mixed += looped / (np.std(looped) or 1.0)
    return (mixed / (np.std(mixed) or 1.0)).astype(np.float32)


def speech_level(speech: Clip) -> float:
    """RMS over the frames that carry speech (within 30 dB of the loudest), so pauses do not count."""
    frame = RATE // 50
    usable = speech[: speech.size // frame * frame].reshape(-1, frame)
    power = np.mean(usable.astype(np.float64) ** 2, axis=1)
    active = power[power > power.max() * 1e-3]
    return float(np.sqrt(np.mean(active))) if active.size else 0.0


def mix_at_snr(speech: Clip, noise: Clip, snr_db: float) -> Clip:
    """`speech` with `noise` (looped or cut to length) added at `snr_db` below the speech level."""
    noise = np.resize(noise, speech.size).astype(np.float64)
    wanted = speech_level(speech) / (10 ** (snr_db / 20))
    mixed = speech + noise * (wanted / (np.sqrt(np.mean(noise**2)) or 1.0))
    peak = float(np.max(np.abs(mixed)))
    return (mixed / peak * 0.9 if peak > 0.9 else mixed).astype(np.float32)


# ---- sounds that are not words ------------------------------------------------------------------------


def _formants(noise: np.ndarray, centres: Sequence[float], width: float) -> np.ndarray:
    """Noise through vocal-tract-like resonances: Gaussian bumps at `centres` Hz."""
    return _shape(noise, lambda f: sum(np.exp(-0.5 * ((f - c) / width) ** 2) for c in centres))


def cough(rng: np.random.Generator, seconds: float = 0.45) -> Clip:
    """One cough: an explosive broadband burst, a noisy decaying middle with resonances, a voiced end."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    burst = rng.standard_normal(n) * np.exp(-t / 0.012)
    middle = _formants(rng.standard_normal(n), rng.uniform([400, 1200, 2300], [700, 1700, 2900]), 250)
    middle *= np.minimum(1.0, t / 0.004) * np.exp(-t / rng.uniform(0.06, 0.12))
    f0 = rng.uniform(130, 260)
    pulses = (np.sin(2 * np.pi * f0 * t) > 0.95).astype(float)  # a rough glottal pulse train
    voiced = _formants(pulses, [500, 1500], 200) * np.exp(-np.maximum(t - 0.15, 0) / 0.05) * (t > 0.12)
    return (0.6 * burst / np.std(burst[:200]) + middle / (np.std(middle) or 1) + 0.4 * voiced
            / (np.std(voiced) or 1)).astype(np.float32)


def breath(rng: np.random.Generator, seconds: float = 0.8) -> Clip:
    """An in- or out-breath: band-limited hiss that swells and fades."""
    n = int(seconds * RATE)
    band = lambda f: ((f > 300) & (f < 3500)) / np.maximum(f, 300) ** 0.5  # noqa: E731
    hiss = _shape(rng.standard_normal(n), band)
    envelope = np.sin(np.pi * np.arange(n) / n) ** 2
    return (hiss * envelope / (np.std(hiss) or 1)).astype(np.float32)


def click(rng: np.random.Generator) -> Clip:
    """A mouse or key click: a few milliseconds of decaying broadband sound."""
    n = int(0.008 * RATE)
    return (rng.standard_normal(n) * np.exp(-np.arange(n) / (0.0015 * RATE))).astype(np.float32)


def knock(rng: np.random.Generator) -> Clip:
    """A knuckle on a door or desk: a damped low resonance."""
    n = int(0.15 * RATE)
    t = np.arange(n) / RATE
    tone = np.sin(2 * np.pi * rng.uniform(120, 260) * t) + 0.5 * np.sin(2 * np.pi * rng.uniform(500, 900) * t)
    return (tone * np.exp(-t / 0.025) + 0.3 * rng.standard_normal(n) * np.exp(-t / 0.003)).astype(np.float32)


def _place(length_s: float, events: Sequence[tuple[float, Clip]], floor: float, rng: np.random.Generator,
           peak: float) -> Clip:
    """Events at given times over a quiet room's noise floor, scaled to `peak`."""
    out = np.zeros(int(length_s * RATE), np.float64)
    for at, sound in events:
        start = int(at * RATE)
        piece = sound[: max(0, out.size - start)]
        out[start : start + piece.size] += piece
    out = _normalised(out, peak).astype(np.float64)
    return (out + floor * rng.standard_normal(out.size)).astype(np.float32)


MEASURING_SEED = 14  # the clips `assistant bench voice --accuracy` reports on
TUNING_SEED = 41  # the same kinds of sound, drawn afresh: what the no-speech checks were tuned on


def non_speech_clips(seed: int = MEASURING_SEED) -> dict[str, Clip]:
    """Clips of 3 s without a word in them, named by what they are (29 of them)."""
    rng = np.random.default_rng(seed)
    n = 3 * RATE
    t = np.arange(n) / RATE
    clips: dict[str, Clip] = {"digital silence": np.zeros(n, np.float32)}
    clips["dc offset"] = np.full(n, 0.01, np.float32)
    for level in (0.001, 0.003, 0.01, 0.05):
        clips[f"white noise {level}"] = level * white(n, rng)
    for level in (0.003, 0.03):
        clips[f"pink noise {level}"] = level * pink(n, rng)
    clips["brown drift"] = (np.cumsum(rng.standard_normal(n)) * 2e-4).astype(np.float32)
    for mains in (50, 60):
        hum = np.sin(2 * np.pi * mains * t) + 0.3 * np.sin(2 * np.pi * 3 * mains * t)
        clips[f"mains hum {mains} Hz"] = (0.05 * hum).astype(np.float32)
    clips["fan"] = (0.02 * pink(n, rng) + 0.01 * np.sin(2 * np.pi * 100 * t)).astype(np.float32)
    clips["clicks every 0.5 s"] = _place(3, [(a, click(rng)) for a in np.arange(0.2, 3, 0.5)], 1e-3, rng, 0.5)
    typing = np.cumsum(rng.uniform(0.08, 0.25, 20))
    clips["typing"] = _place(3, [(a, click(rng)) for a in typing[typing < 2.9]], 1e-3, rng, 0.4)
    clips["crackle"] = np.where(rng.random(n) < 0.001, 0.5, 0.0).astype(np.float32)
    knocks = [(0.5, knock(rng)), (0.75, knock(rng)), (1.0, knock(rng))]
    clips["door knocks"] = _place(3, knocks, 1e-3, rng, 0.6)
    clips["desk knock"] = _place(3, [(1.2, knock(rng))], 1e-3, rng, 0.8)
    for index in range(4):
        clips[f"cough {index + 1}"] = _place(3, [(rng.uniform(0.3, 1.5), cough(rng))], 1e-3, rng, 0.7)
    clips["double cough"] = _place(3, [(0.6, cough(rng)), (1.2, cough(rng))], 1e-3, rng, 0.7)
    clips["coughing fit"] = _place(3, [(0.3 + 0.5 * i, cough(rng)) for i in range(5)], 1e-3, rng, 0.8)
    for index in range(3):
        clips[f"breath {index + 1}"] = _place(3, [(rng.uniform(0.3, 1.5), breath(rng))], 1e-3, rng, 0.15)
    clips["breathing"] = _place(3, [(0.2, breath(rng)), (1.3, breath(rng, 1.2))], 1e-3, rng, 0.2)
    clips["loud breath"] = _place(3, [(0.8, breath(rng))], 1e-3, rng, 0.6)
    clips["cough then breath"] = _place(3, [(0.4, cough(rng)), (1.4, breath(rng))], 1e-3, rng, 0.7)
    return {name: clip.astype(np.float32) for name, clip in clips.items()}
