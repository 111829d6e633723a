"""Malformed images, broken recordings and malformed documents (issue 15), quick counts: through the
requests `describe`, `transcribe`, an attached document and `docs add` send to the real engine
process, through `assistant describe` itself, and dropped or attached in the real window (run in its
own process, so a crash of the window is counted, not suffered). Every case gets a message or is
used; the window never dies. `assistant bench reliability --full` runs the issue's counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.audio.errors import AudioError
from assistant.bench import reliability_faults
from assistant.bench.fault_files import tone_and_noise, wav_bytes

pytestmark = pytest.mark.timeout(600)
QUICK = reliability_faults.QUICK


def test_images_through_describe(tmp_path: Path) -> None:
    figure = reliability_faults.images_engine(QUICK.images_engine, tmp_path, cli_runs=QUICK.images_cli)
    assert figure.runs == QUICK.images_engine + QUICK.images_cli
    assert figure.failures == 0, figure.notes


def test_images_dropped_on_the_window(tmp_path: Path) -> None:
    figure = reliability_faults.images_window(QUICK.images_window, tmp_path)
    assert figure.failures == 0, figure.notes
    assert "unreadable" in figure.figure and "read" in figure.figure


def test_a_recording_that_claims_one_sample_per_second_is_refused_at_once(tmp_path: Path) -> None:
    """Regression: a 48 KB WAV whose header says 1 Hz was resampled into 6.7 hours of audio (1.8 GB in
    the engine, minutes of work); a bigger one would have exhausted memory."""
    from assistant.engines.audio_decode import iter_decode

    path = tmp_path / "one-hertz.wav"
    path.write_bytes(wav_bytes(tone_and_noise(0.5), rate=1))
    with pytest.raises(AudioError, match="1 samples per second"):
        next(iter_decode(path))
    telephone = tmp_path / "telephone.wav"
    telephone.write_bytes(wav_bytes(tone_and_noise(0.5, rate=8000), rate=8000))
    assert sum(len(chunk) for chunk in iter_decode(telephone)) == 8000  # 0.5 s at 16 kHz


def test_a_recording_of_an_unknown_codec_gets_a_message_not_an_exception(tmp_path: Path) -> None:
    """Regression (found by the full sweep in the rate check above): a WAV whose format tag names no
    codec has no codec context, so asking its stream for the rate raised AttributeError, which reached
    the user as "The engine could not answer (AttributeError: ...)"."""
    from assistant.engines.audio_decode import iter_decode

    data = bytearray(wav_bytes(tone_and_noise(0.5)))
    data[20:22] = (0).to_bytes(2, "little")  # WAVE format tag 0: no codec
    path = tmp_path / "format-0.wav"
    path.write_bytes(bytes(data))
    with pytest.raises(AudioError, match="no sound that could be decoded"):
        list(iter_decode(path))


def test_audio_through_transcribe(tmp_path: Path) -> None:
    figure = reliability_faults.audio_engine(QUICK.audio, tmp_path)
    assert figure.runs == QUICK.audio
    assert figure.failures == 0, figure.notes


def test_audio_attached_in_the_window(tmp_path: Path) -> None:
    figure = reliability_faults.audio_window(QUICK.audio_window, tmp_path)
    assert figure.failures == 0, figure.notes


def test_documents_attached_and_added(tmp_path: Path) -> None:
    figure = reliability_faults.documents_engine(QUICK.documents, tmp_path)
    assert figure.runs == 2 * QUICK.documents
    assert figure.failures == 0, figure.notes


def test_documents_attached_in_the_window(tmp_path: Path) -> None:
    figure = reliability_faults.documents_window(QUICK.documents_window, tmp_path)
    assert figure.failures == 0, figure.notes
