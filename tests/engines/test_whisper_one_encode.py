"""The app's Whisper model encodes the first window once when it detects the language, and otherwise
decodes exactly as plain faster-whisper (engines/whisper_one_encode.py), on real recorded speech."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("faster_whisper")
from faster_whisper import WhisperModel, decode_audio

from assistant.engines.whisper import WhisperSpeech
from assistant.engines.whisper_decoding import FILE_VAD
from assistant.engines.whisper_one_encode import OneEncodeWhisperModel

pytestmark = pytest.mark.timeout(300)
JFK = Path(__file__).resolve().parents[1] / "data" / "speech" / "jfk.wav"  # real speech, 11 s
FILE_SETTINGS = {"beam_size": 5, "vad_filter": True, "vad_parameters": FILE_VAD,
                 "condition_on_previous_text": False}


@pytest.fixture(scope="module")
def speech(shared_data_dir: Path) -> WhisperSpeech:
    return WhisperSpeech.open("whisper-base", shared_data_dir, threads=1)


@pytest.fixture(scope="module")
def jfk() -> np.ndarray:
    return decode_audio(str(JFK))


def counted(model: WhisperModel) -> list[int]:
    """Count the model's encoder passes (an instance attribute shadows the method for this object)."""
    calls = [0]
    encode: Callable[..., Any] = model.encode

    def counting(features: np.ndarray) -> Any:
        calls[0] += 1
        return encode(features)

    model.encode = counting  # type: ignore[method-assign]
    return calls


Timed = list[tuple[float, float, str]]


def decoded(model: WhisperModel, audio: np.ndarray, **settings: Any) -> tuple[Timed, Any]:
    segments, info = model.transcribe(audio, **FILE_SETTINGS, **settings)
    return [(s.start, s.end, s.text) for s in segments], info


@pytest.fixture()
def models(speech: WhisperSpeech) -> Iterator[tuple[WhisperModel, WhisperModel]]:
    app, plain = speech._model, speech.library_model
    yield app, plain
    for model in (app, plain):
        model.__dict__.pop("encode", None)


def test_the_app_model_detects_and_decodes_from_one_encoder_pass(
    models: tuple[WhisperModel, WhisperModel], jfk: np.ndarray
) -> None:
    app, plain = models
    assert isinstance(app, OneEncodeWhisperModel) and type(plain) is WhisperModel
    app_calls = counted(app)
    ours, detected = decoded(app, jfk)
    assert app_calls[0] == 1
    assert detected.language == "en" and detected.language_probability > 0.8
    # The library detects from a second encoder pass; given the language, it decodes bit for bit the same.
    plain_calls = counted(plain)
    library, _ = decoded(plain, jfk)
    assert plain_calls[0] == 2
    assert decoded(plain, jfk, language=detected.language)[0] == ours == library
    assert "ask not what your country can do for you" in " ".join(text for *_, text in ours).lower()


def test_a_window_past_30_s_is_detected_from_the_very_input_the_library_uses(
    models: tuple[WhisperModel, WhisperModel], jfk: np.ndarray
) -> None:
    """Past 30 s both encode the same first window, so the detection and the text are the library's."""
    app, plain = models
    long = np.concatenate([jfk, jfk, jfk])  # 33 s of speech, two windows
    # Said three times, the text fails Whisper's compression check and the fallback would sample (a
    # random draw each run); the first, temperature-0 attempt alone is what the encoder decides.
    ours, ours_info = decoded(app, long, temperature=0.0)
    library, library_info = decoded(plain, long, temperature=0.0)
    assert ours == library
    assert ours_info.language_probability == library_info.language_probability
    assert ours_info.all_language_probs == library_info.all_language_probs


def test_an_encoding_kept_from_other_audio_is_never_decoded(
    models: tuple[WhisperModel, WhisperModel], jfk: np.ndarray
) -> None:
    app, plain = models
    other = app.feature_extractor(jfk[: len(jfk) // 2])
    assert app.detect_language(features=other)[0] == "en"  # kept for a decoding that never comes
    calls = counted(app)
    assert decoded(app, jfk, language="en")[0] == decoded(plain, jfk, language="en")[0]
    assert calls[0] == 1  # it encoded jfk itself rather than reuse the half clip's encoding


def test_direct_detection_from_audio_is_the_library_s(
    models: tuple[WhisperModel, WhisperModel], jfk: np.ndarray
) -> None:
    app, plain = models
    assert app.detect_language(audio=jfk) == plain.detect_language(audio=jfk)
