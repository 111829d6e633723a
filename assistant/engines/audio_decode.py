"""Any audio file ffmpeg can read -> 16 kHz mono float32, streamed in bounded chunks (PyAV).

Why not `faster_whisper.audio.decode_audio`: it decodes the whole file into one buffer, and a three-hour
recording is 690 MB of float32 at 16 kHz. `iter_decode` keeps at most one chunk (plus one decoded frame)
in memory, so a transcription's footprint does not grow with the file. Every failure, from a missing
file to random bytes, becomes an `AudioError` whose message names the file and says what to do.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.audio.resampler import AudioResampler

from assistant.audio.errors import CONVERT_ADVICE, REEXPORT_ADVICE, AudioError

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
# Below any real recording (telephone speech is 8 kHz; old formats go down to 4 kHz).
MIN_SAMPLE_RATE = 1_000


def check_path(path: str | Path) -> Path:
    """The cheap checks first, so the common mistakes get precise messages."""
    file = Path(path).expanduser()
    if not file.exists():
        raise AudioError(file, "the file does not exist", "Check the file name and folder.")
    if file.is_dir():
        raise AudioError(file, "it is a folder, not a file", "Choose an audio file inside it.")
    try:
        size = file.stat().st_size
    except OSError as error:
        raise AudioError(file, f"it cannot be opened ({error.strerror})", "Check its permissions.") from error
    if size == 0:
        raise AudioError(file, "the file is empty (0 bytes)", REEXPORT_ADVICE)
    return file


@contextlib.contextmanager
def _open(file: Path) -> Iterator[Any]:
    try:
        container = av.open(str(file), mode="r", metadata_errors="ignore")
    except PermissionError as error:
        raise AudioError(file, "permission to read it was denied", "Check its permissions.") from error
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as error:
        logger.info("Could not open %s: %s", file, error)
        problem = "it is damaged or not in an audio format this app can read"
        raise AudioError(file, problem, CONVERT_ADVICE) from error
    try:
        if not container.streams.audio:
            raise AudioError(file, "it has no audio track", "Choose a file that contains sound.")
        # No codec context (an unknown codec id): no rate either; decoding then finds no sound and says so.
        context = container.streams.audio[0].codec_context
        rate = context.sample_rate if context is not None else 0
        if rate and rate < MIN_SAMPLE_RATE:
            # A damaged or hostile header: resampling 1 Hz up to 16 kHz turns each decoded frame into
            # millions of samples (a 48 KB file became 6.7 hours of audio and 1.8 GB in the engine).
            raise AudioError(file, f"its header claims {rate} samples per second, far below any recording",
                             REEXPORT_ADVICE)
        yield container
    finally:
        container.close()


def probe_duration(path: str | Path) -> float:
    """Length in seconds from the file's header (0.0 when the format does not say); for progress only."""
    file = check_path(path)
    with _open(file) as container:
        return _header_seconds(container)


def _header_seconds(container: Any) -> float:
    stream = container.streams.audio[0]
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return float(container.duration / av.time_base)
    return 0.0


def _decoded_frames(container: Any, file: Path) -> Iterator[Any]:
    """Decoded frames of the first audio stream; damaged packets are skipped, not fatal.

    A partly damaged recording should still give the speech that survives (ffmpeg does the same).
    """
    stream = container.streams.audio[0]
    packets = container.demux(stream)
    bad = 0
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.FFmpegError as error:  # the container itself is damaged: keep what came before
            logger.warning("%s: stopped reading at a damaged spot (%s)", file, error)
            break
        try:
            yield from packet.decode()
        except av.FFmpegError as error:
            bad += 1
            logger.debug("%s: skipped a damaged packet (%s)", file, error)
    if bad:
        logger.warning("%s: skipped %d damaged packet(s)", file, bad)


def iter_decode(
    path: str | Path, chunk_seconds: float = 30.0, max_seconds: float | None = None
) -> Iterator[np.ndarray]:
    """Yield 16 kHz mono float32 chunks of `chunk_seconds` (the last one shorter).

    Raises AudioError before the first chunk for unreadable files, and at the end when the file held no
    decodable samples at all (a header-only WAV, say).
    """
    file = check_path(path)
    chunk = max(1, int(chunk_seconds * SAMPLE_RATE))
    limit = int(max_seconds * SAMPLE_RATE) if max_seconds is not None else None
    pending: list[np.ndarray] = []
    pending_n = produced = 0
    with _open(file) as container:
        header_s = _header_seconds(container)
        # 16-bit samples, as faster-whisper's decode_audio (and openai-whisper's ffmpeg s16le) make them:
        # a file then reaches the model as exactly the samples plain faster-whisper gives it. With float
        # output the two differed by 1.5e-5, enough to flip a near-tie in the decoder ("barked"/"marked").
        resampler = AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        try:
            frames = _decoded_frames(container, file)
            for frame in _with_flush(frames):
                try:
                    resampled = resampler.resample(frame)
                except (av.FFmpegError, ValueError) as error:
                    problem = f"its audio could not be converted ({error})"
                    raise AudioError(file, problem, CONVERT_ADVICE) from error
                for out in resampled:
                    samples = out.to_ndarray().reshape(-1).astype(np.float32) / 32768.0
                    if limit is not None:
                        samples = samples[: max(0, limit - produced - pending_n)]
                    pending.append(samples)
                    pending_n += len(samples)
                while pending_n >= chunk:
                    joined = np.concatenate(pending)
                    yield joined[:chunk]
                    produced += chunk
                    rest = joined[chunk:]
                    pending, pending_n = [rest], len(rest)
                if limit is not None and produced + pending_n >= limit:
                    break
        finally:
            # PyAV frees some resampler buffers only on a collection (faster-whisper issue #390).
            del resampler
            gc.collect()
    if pending_n:
        yield np.concatenate(pending)
        produced += pending_n
    if produced == 0 and limit != 0:
        raise AudioError(file, "it contains no sound that could be decoded", REEXPORT_ADVICE)
    if limit is None and header_s > 1.0 and produced < 0.9 * header_s * SAMPLE_RATE:
        # Still useful (the speech that is there gets transcribed), but the user should know.
        logger.warning(
            "%s: decoded %.1f s of %.1f s; the file seems cut short", file, produced / SAMPLE_RATE, header_s
        )


def _with_flush(frames: Iterator[Any]) -> Iterator[Any]:
    """The frames, then None: resampling None flushes the samples the resampler still holds."""
    yield from frames
    yield None


def decode_file(path: str | Path, max_seconds: float | None = None) -> np.ndarray:
    """The whole file (or its first `max_seconds`) as one 16 kHz mono float32 array."""
    chunks = list(iter_decode(path, chunk_seconds=60.0, max_seconds=max_seconds))
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


def as_samples(audio: Any) -> np.ndarray:
    """Check an in-memory buffer: 1-D 16 kHz mono float32 (int16 and (n, channels) are converted)."""
    array = np.asarray(audio)
    if array.dtype.kind not in "fiu":
        raise AudioError(None, f"expected numeric samples, got {array.dtype}")
    samples = array.astype(np.float32, copy=False)  # int16 always makes a new array, so /= is safe
    if array.dtype == np.int16:
        samples /= 32768.0
    if samples.ndim == 2:  # (frames, channels), as sounddevice records it
        samples = samples.mean(axis=1)
    if samples.ndim != 1:
        raise AudioError(None, f"expected mono samples, got an array of shape {array.shape}")
    if samples.size and not np.isfinite(samples).all():
        raise AudioError(None, "the samples contain NaN or infinite values")
    return samples


def iter_array(audio: Any, chunk_seconds: float = 30.0) -> Iterator[np.ndarray]:
    """An in-memory buffer in the same chunks `iter_decode` gives, so both take one code path."""
    samples = as_samples(audio)
    chunk = max(1, int(chunk_seconds * SAMPLE_RATE))
    for start in range(0, len(samples), chunk):
        yield samples[start : start + chunk]


def open_source(
    path: str | Path | None, audio: Any | None, chunk_seconds: float = 30.0
) -> tuple[float, Iterator[np.ndarray]]:
    """(length in seconds, chunks) for a file or an in-memory buffer, whichever is given.

    A file's length comes from its header (0.0 if unknown), and probing it first makes an unreadable
    file fail before any work starts.
    """
    if path is not None:
        return probe_duration(path), iter_decode(path, chunk_seconds=chunk_seconds)
    if audio is not None:
        samples = as_samples(audio)
        return len(samples) / SAMPLE_RATE, iter_array(samples, chunk_seconds=chunk_seconds)
    raise AudioError(None, "neither a file nor samples were given")
