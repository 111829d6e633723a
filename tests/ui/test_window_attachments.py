"""Recordings attached in the window: dropped or picked, transcribed in the engine, asked about.

Offscreen Qt, the real engine process (Whisper tiny.en for speed, SmolLM2 for answers), a real history
file, speech made by espeak-ng. Drops are real Qt drag events carrying QMimeData URLs, sent to the
window and to the composer's editor.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, Qt, QUrl
from window_drops import WAIT_MS, drop, files, wait_idle

from assistant.prompt.audio_question import DEFAULT_QUESTION
from assistant.ui.composer.attachment_questions import CANCELLED

pytest.importorskip("faster_whisper")
pytestmark = pytest.mark.timeout(300)

SPEECH = (
    "My first restaurant was a tiny noodle bar by the harbour. "
    "It had six tables, and my mother cooked every evening."
)
QUESTION = "What did the guest say about their first restaurant?"


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng and sox make the speech fixtures (apt-get install espeak-ng sox)")
    folder = tmp_path_factory.mktemp("attachments")
    interview = folder / "interview.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(interview), SPEECH], check=True)
    long = folder / "long interview.wav"  # minutes of speech: still being transcribed when Cancel comes
    subprocess.run(["sox", *[str(interview)] * 30, str(long)], check=True)
    silence = folder / "silence.wav"
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", str(silence), "trim", "0", "3"], check=True)
    garbage = folder / "corrupt.wav"
    garbage.write_bytes(random.Random(11).randbytes(8000))  # seeded: the same bytes every run
    return {"interview": interview, "long": long, "silence": silence, "garbage": garbage}


def test_dropped_recording_is_transcribed_answered_stored_and_shown_again(
    qtbot, make_app, driver, clips: dict[str, Path]
) -> None:
    parts = make_app(speech_model="whisper-tiny.en")
    window, composer = parts.window, parts.window.composer
    drop(window, files(clips["interview"]))
    assert [a.name for a in composer.attachments()] == ["interview.wav"]
    chip = composer.chips.chips()[0]
    assert chip.isVisibleTo(window) and "interview.wav" in chip.label.text()
    assert composer.button.isEnabled()

    driver.ask(parts, QUESTION)
    assert composer.busy and composer.button.text() == "Cancel" and composer.editor.isReadOnly()
    wait_idle(qtbot, parts)
    assert parts.controller.attachments.last_error is None, parts.window.status.last_error

    # The question is stored as typed, with its attachment and the transcript the model was given.
    conversation = parts.controller.current_conversation_id
    question, answer = parts.store.messages(conversation)
    assert question.text == QUESTION
    assert [a.name for a in question.attachments] == ["interview.wav"]
    (transcript,) = question.groundings
    assert transcript.kind == "transcript" and transcript.sent
    assert transcript.text.startswith("[00:00] ") and "restaurant" in transcript.text.lower()
    assert question.prompt is not None and transcript.text in question.prompt
    assert answer.status == "complete" and answer.text.strip()
    assert composer.attachments() == [] and composer.draft() == "" and not composer.busy

    def check_view() -> None:
        bubble = window.chat_view.bubbles()[0]
        assert [chip.attachment.name for chip in bubble.chips.chips()] == ["interview.wav"]
        panel = bubble.grounding
        assert panel is not None and not panel.expanded  # folded until asked for
        panel.toggle.click()
        assert panel.expanded
        qtbot.waitUntil(panel.body.isVisible)  # a new row is shown once Qt processes its layout
        shown = panel.plain_text()
        assert "Transcript of interview.wav" in shown and transcript.text.splitlines()[0] in shown
        assert window.chat_view.bubbles()[1].plain_text().strip()

    check_view()
    parts.controller.new_chat()
    assert window.chat_view.bubbles() == []
    parts.controller.open_conversation(conversation)  # read back from SQLite
    check_view()


def test_dropping_on_the_composer_attaches_instead_of_pasting_and_no_text_asks_for_a_summary(
    qtbot, make_app, clips: dict[str, Path]
) -> None:
    parts = make_app(speech_model="whisper-tiny.en", max_answer_tokens=24)
    composer = parts.window.composer
    drop(composer.editor.viewport(), files(clips["interview"]))
    assert composer.draft() == "" and len(composer.attachments()) == 1
    drop(parts.window, files(clips["interview"]))  # the same file again: attached once
    assert len(composer.attachments()) == 1
    composer.button.click()  # nothing typed: the recording alone is enough to send
    wait_idle(qtbot, parts)
    question = parts.store.messages(parts.controller.current_conversation_id)[0]
    assert question.text == DEFAULT_QUESTION and question.groundings
    conversation = parts.store.get_conversation(parts.controller.current_conversation_id)
    assert conversation.title.startswith("interview.wav:")


def test_refused_drops_say_why_and_nothing_is_attached(qtbot, make_app, tmp_path: Path) -> None:
    parts = make_app(engine=False)
    composer = parts.window.composer
    composer.set_draft("my draft")
    folder = tmp_path / "recordings"
    folder.mkdir()
    fifo = tmp_path / "live.wav"
    os.mkfifo(fifo)  # reading it would block the window forever
    notes = tmp_path / "notes.xyz"
    notes.write_text("hello")
    drop(parts.window, files(folder, fifo, notes, "https://example.com/talk.mp3", "file://server/share/a.wav"))
    message = composer.error_text()
    reasons = ["it is a folder", "pipe (FIFO)", ".xyz files are not", "web address", "another computer"]
    assert [reason for reason in reasons if reason not in message] == []
    assert composer.attachments() == [] and not composer.chips.isVisibleTo(parts.window)
    assert "Cannot attach" in parts.window.status.last_error
    assert composer.draft() == "my draft" and parts.window.isVisible()


def test_picked_and_pasted_files_are_attached_and_removed_with_the_cross(
    qtbot, make_app, clips: dict[str, Path]
) -> None:
    parts = make_app(engine=False)
    composer = parts.window.composer
    composer.file_picker = lambda parent: [str(clips["interview"]), str(clips["silence"])]
    composer.attach_button.click()
    assert [a.name for a in composer.attachments()] == ["interview.wav", "silence.wav"]
    remove = composer.chips.chips()[0].remove_button
    assert remove is not None
    remove.click()
    assert [a.name for a in composer.attachments()] == ["silence.wav"]
    parts.window.attach_action.trigger()  # File ▸ Attach picks again; duplicates are skipped
    assert [a.name for a in composer.attachments()] == ["silence.wav", "interview.wav"]

    composer.clear_attachments()
    copied = QMimeData()  # files copied in a file manager, then pasted into the composer
    copied.setUrls([QUrl.fromLocalFile(str(clips["interview"]))])
    assert composer.editor.canInsertFromMimeData(copied)
    composer.editor.insertFromMimeData(copied)
    assert [a.name for a in composer.attachments()] == ["interview.wav"] and composer.draft() == ""
    link = QMimeData()  # a copied web link stays text
    link.setUrls([QUrl("https://example.com/talk.mp3")])
    link.setText("https://example.com/talk.mp3")
    composer.editor.insertFromMimeData(link)
    assert composer.draft() == "https://example.com/talk.mp3" and len(composer.attachments()) == 1


def test_cancel_mid_transcription_keeps_the_draft_and_the_recording(
    qtbot, make_app, driver, clips: dict[str, Path]
) -> None:
    parts = make_app(speech_model="whisper-tiny.en")
    composer, flow = parts.window.composer, parts.controller.attachments
    drop(parts.window, files(clips["long"]))
    driver.ask(parts, QUESTION)

    def transcribing() -> bool:
        update = flow.progress
        return update is not None and update.message.startswith("Transcribing") and update.total > 0

    qtbot.waitUntil(transcribing, timeout=WAIT_MS)
    assert parts.window.status.progress.isVisible()
    assert composer.chips.chips()[0].note.text().endswith("%")
    qtbot.keyClick(composer.editor, Qt.Key.Key_Escape)  # Esc, like the Cancel button
    wait_idle(qtbot, parts)
    assert flow.progress is not None and flow.progress.cancelled
    assert parts.window.status.message.text() == CANCELLED
    assert composer.draft() == QUESTION and [a.name for a in composer.attachments()] == ["long interview.wav"]
    assert not composer.busy and composer.button.text() == "Send" and not composer.editor.isReadOnly()
    assert parts.store.list_conversations() == []  # nothing was sent, so nothing was stored

    # The window goes on: drop the recording, ask something plain.
    composer.remove_attachment(composer.attachments()[0])
    composer.clear_draft()
    driver.ask(parts, "Say hello.")
    wait_idle(qtbot, parts)
    assert parts.store.messages(parts.controller.current_conversation_id)[1].status == "complete"


@pytest.mark.parametrize(
    ("clip", "expected"),
    [("garbage", "Cannot read audio file"), ("silence", "No speech was recognised")],
)
def test_unusable_recordings_are_explained_and_nothing_is_lost(
    qtbot, make_app, driver, clips: dict[str, Path], clip: str, expected: str
) -> None:
    parts = make_app(speech_model="whisper-tiny.en")
    composer = parts.window.composer
    drop(parts.window, files(clips[clip]))
    driver.ask(parts, QUESTION)
    wait_idle(qtbot, parts)
    error = parts.controller.attachments.last_error
    assert error is not None and expected in error and str(clips[clip]) in error
    assert expected in composer.error_text() and expected in parts.window.status.last_error
    assert composer.draft() == QUESTION and len(composer.attachments()) == 1
    assert parts.store.list_conversations() == [] and parts.window.isVisible()
