"""Images in the window: dropped, pasted or picked; read in the engine; asked about; shown again.

Offscreen Qt, the real engine process (RapidOCR for the text, SmolLM2 for answers, Whisper tiny.en for
the recording), a real history file. Drops are real Qt drag events carrying QMimeData; pastes go
through the composer's own paste handler. The screenshot is drawn with Pillow, so its text is known.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from error_screenshot import MESSAGE, save_error_dialog
from malformed_images import not_images, valid_images
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from window_drops import WAIT_MS, drop, files, pixels, support_call, wait_idle

from assistant import settings as settings_module
from assistant.images import kept

pytest.importorskip("rapidocr_onnxruntime")
pytestmark = pytest.mark.timeout(300)

QUESTION = "What error code is shown?"


def kept_files() -> list[Path]:
    folder = kept.images_dir(settings_module.data_dir())
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def qimage(path: Path) -> QImage:
    image = QImage(str(path))
    assert not image.isNull()
    return image


@pytest.fixture
def screenshot(tmp_path: Path) -> Path:
    return save_error_dialog(tmp_path / "error dialog.png")


def test_dropped_screenshot_is_read_answered_stored_and_shown_again(
    qtbot, make_app, driver, screenshot: Path
) -> None:
    parts = make_app()
    window, composer = parts.window, parts.window.composer
    drop(window, files(screenshot))
    assert [a.kind for a in composer.attachments()] == ["image"]
    chip = composer.chips.chips()[0]
    qtbot.waitUntil(lambda: chip.has_thumbnail, timeout=WAIT_MS)  # decoded off the GUI thread
    assert chip.thumbnail is not None and "error dialog.png" in chip.label.text()
    chip.thumbnail.click()  # a bigger look
    preview = chip.preview_dialog
    assert preview is not None and preview.isVisible()
    qtbot.waitUntil(lambda: preview.shown, timeout=WAIT_MS)
    preview.close()

    driver.ask(parts, QUESTION)
    assert composer.busy and composer.button.text() == "Cancel"
    wait_idle(qtbot, parts)
    assert parts.controller.attachments.last_error is None, parts.window.status.last_error

    # Stored: the question as typed, the image, the text read from it (in the prompt too), the answer.
    conversation = parts.controller.current_conversation_id
    question, answer = parts.store.messages(conversation)
    assert question.text == QUESTION and [a.name for a in question.attachments] == ["error dialog.png"]
    (image,) = question.groundings
    assert image.kind == "image" and MESSAGE in image.text and "Windows Explorer" in image.text
    assert question.prompt is not None
    assert question.prompt.startswith("Text read from the image (OCR, in reading order):")
    assert "error dialog" not in question.prompt  # the file's name is never told to the model
    assert image.text in question.prompt and question.prompt.endswith(QUESTION)
    assert answer.status == "complete" and answer.text.strip()
    # The image is kept by its hash, so the conversation shows it after the original is gone.
    assert kept.kept_path(image.image, settings_module.data_dir()) in kept_files()
    assert composer.attachments() == [] and composer.draft() == ""

    def check_view() -> None:
        bubble = window.chat_view.bubbles()[0]
        (shown,) = bubble.chips.chips()
        assert shown.attachment.name == "error dialog.png"
        qtbot.waitUntil(lambda: shown.has_thumbnail, timeout=WAIT_MS)
        panel = bubble.grounding
        assert panel is not None and not panel.expanded
        panel.toggle.click()
        qtbot.waitUntil(panel.body.isVisible)
        text = panel.plain_text()
        assert "Text read from the image error dialog.png" in text and MESSAGE in text

    check_view()
    screenshot.unlink()  # moved or deleted: the kept copy stands in
    parts.controller.new_chat()
    parts.controller.open_conversation(conversation)  # read back from SQLite
    check_view()
    bubble_chip = window.chat_view.bubbles()[0].chips.chips()[0]
    bubble_chip.thumbnail.click()
    assert bubble_chip.preview_dialog is not None
    qtbot.waitUntil(lambda: bubble_chip.preview_dialog.shown, timeout=WAIT_MS)
    bubble_chip.preview_dialog.close()


THUMBNAILS_WITHOUT_OPENCV = """
import sys, time
from pathlib import Path
from PySide6.QtWidgets import QApplication
from assistant.settings import Settings
from assistant.ui.app import build
app = QApplication([])
parts = build(app, Settings(first_run_done=True), Path(sys.argv[2]))
parts.window.composer.add_paths([sys.argv[1]])
chip = parts.window.composer.chips.chips()[0]
deadline = time.monotonic() + 60
while not chip.has_thumbnail and time.monotonic() < deadline:
    app.processEvents()
chip.thumbnail.click()
preview = chip.preview_dialog
while not preview.shown and time.monotonic() < deadline:
    app.processEvents()
print(chip.has_thumbnail, preview.shown, "cv2" in sys.modules, "rapidocr_onnxruntime" in sys.modules)
parts.shutdown()
"""


def test_dropped_photos_get_the_classifiers_guesses_or_the_apps_own_answer(
    qtbot, make_app, driver, tmp_path: Path
) -> None:
    """Real photos (scikit-image's): the cat saved as chelsea.png reaches the model as the classifier's
    guesses with their scores, never as its file name; the astronaut (ImageNet has no people) gets the
    app's own answer, saying what it could not see and which models would, with no model asked."""
    import shutil

    from assistant.bench.vision_photos import PHOTOS, photo_dir

    parts = make_app()
    window = parts.window
    cat = shutil.copy(photo_dir() / "chelsea.png", tmp_path / "chelsea.png")
    drop(window, files(Path(cat)))
    driver.ask(parts, "What is in this picture?")
    wait_idle(qtbot, parts)
    assert parts.controller.attachments.last_error is None, parts.window.status.last_error
    question, answer = parts.store.messages(parts.controller.current_conversation_id)
    (image,) = question.groundings
    assert image.guesses and image.guesses[0][0] in PHOTOS["chelsea.png"]
    assert question.prompt is not None and "classifier's guesses" in question.prompt
    assert f"{image.guesses[0][0]} ({image.guesses[0][1]:.0%})" in question.prompt
    assert "chelsea" not in question.prompt.lower()  # the name stays on the chip, never in the prompt
    assert answer.status == "complete" and answer.text.strip() and answer.model  # a model answered

    parts.controller.new_chat()
    astronaut = shutil.copy(photo_dir() / "astronaut.png", tmp_path / "astronaut.png")
    drop(window, files(Path(astronaut)))
    driver.ask(parts, "What is in this picture?")
    wait_idle(qtbot, parts)
    question, answer = parts.store.messages(parts.controller.current_conversation_id)
    assert answer.status == "complete" and answer.text.startswith("I can't tell what this image shows")
    assert "found no text" in answer.text and "assistant models install gemma-3-4b-it-vision" in answer.text
    assert answer.timings.get("answered_by", "").startswith("the app")
    assert window.chat_view.bubbles()[-1].plain_text().startswith("I can't tell what this image shows")
    assert not window.composer.streaming and window.composer.attachments() == []


def test_thumbnails_and_previews_never_load_opencv(screenshot: Path, tmp_path: Path) -> None:
    """OpenCV re-points Qt's plugin path when imported, so the window must never load it: checked in a
    fresh process (in this one an earlier OCR test may have imported it already)."""
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(tmp_path / "data"),
           "ASSISTANT_CONFIG_DIR": str(tmp_path / "config"), "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", THUMBNAILS_WITHOUT_OPENCV, str(screenshot),
                             str(tmp_path / "config" / "settings.json")],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-4:] == ["True", "True", "False", "False"], result.stdout


def test_pasted_and_dragged_pixels_become_files_to_attach(qtbot, make_app, tmp_path: Path) -> None:
    parts = make_app(engine=False)
    composer = parts.window.composer
    screenshot = qimage(save_error_dialog(tmp_path / "shot.png"))
    mime = pixels(screenshot)
    assert composer.editor.canInsertFromMimeData(mime)
    composer.editor.insertFromMimeData(mime)  # Ctrl+V of a screenshot tool's copy
    (pasted,) = composer.attachments()
    assert pasted.kind == "image" and pasted.name.startswith("pasted-") and pasted.name.endswith(".png")
    assert Path(pasted.path).parent == settings_module.data_dir() / "cache" / "pasted"
    assert composer.draft() == ""
    qtbot.waitUntil(lambda: composer.chips.chips()[0].has_thumbnail, timeout=WAIT_MS)
    composer.editor.insertFromMimeData(pixels(screenshot))  # the same picture again: attached once
    assert len(composer.attachments()) == 1

    # An image dragged out of a browser: pixels plus its web address. The pixels are what is meant.
    photo = QImage(64, 48, QImage.Format.Format_RGB32)
    photo.fill(Qt.GlobalColor.darkGreen)
    drop(parts.window, pixels(photo, "https://example.com/photo.png"))
    assert [a.kind for a in composer.attachments()] == ["image", "image"]

    # The × removes one; a web address with no pixels is still refused, with the reason.
    remove = composer.chips.chips()[0].remove_button
    assert remove is not None
    remove.click()
    assert len(composer.attachments()) == 1
    drop(parts.window, files("https://example.com/photo.png"))
    assert "web address" in composer.error_text() and len(composer.attachments()) == 1


def test_image_recording_and_text_in_one_question(qtbot, make_app, driver, tmp_path: Path) -> None:
    recording = support_call(tmp_path)
    parts = make_app(speech_model="whisper-tiny.en")
    composer = parts.window.composer
    composer.editor.insertFromMimeData(pixels(qimage(save_error_dialog(tmp_path / "shot.png"))))
    drop(composer.editor.viewport(), files(recording))
    assert [a.kind for a in composer.attachments()] == ["image", "audio"]
    driver.ask(parts, "Why can the customer not open the folder?")
    wait_idle(qtbot, parts)
    assert parts.controller.attachments.last_error is None, parts.window.status.last_error

    question, answer = parts.store.messages(parts.controller.current_conversation_id)
    pasted_name = question.attachments[0].name
    assert pasted_name.startswith("pasted-")  # the model is told the pasted file's own name
    assert [(g.kind, g.source) for g in question.groundings] == [
        ("image", pasted_name),
        ("transcript", "support call.wav"),
    ]
    image, transcript = question.groundings
    assert MESSAGE in image.text and "backup" in transcript.text.lower()
    prompt = question.prompt or ""
    assert prompt.index(MESSAGE) < prompt.index(transcript.text)
    assert prompt.endswith("Question: Why can the customer not open the folder?")
    assert answer.status == "complete" and answer.text.strip()
    bubble = parts.window.chat_view.bubbles()[0]
    assert [chip.attachment.kind for chip in bubble.chips.chips()] == ["image", "audio"]


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("truncated", "the file is cut short"),
        ("text", "it is a text file"),
    ],
)
def test_a_corrupt_image_is_explained_and_nothing_is_lost(
    qtbot, make_app, driver, tmp_path: Path, sample: str, expected: str
) -> None:
    data = {
        "truncated": valid_images()["png"][: len(valid_images()["png"]) // 2],
        "text": not_images()["notes.png"],
    }[sample]
    bad = tmp_path / "broken.png"
    bad.write_bytes(data)
    parts = make_app()
    composer = parts.window.composer
    drop(parts.window, files(bad))
    chip = composer.chips.chips()[0]
    qtbot.waitUntil(lambda: bool(chip.thumbnail_error), timeout=WAIT_MS)  # the window cannot show it
    assert expected in chip.thumbnail_error
    driver.ask(parts, QUESTION)
    wait_idle(qtbot, parts)

    error = parts.controller.attachments.last_error
    assert error is not None and error.startswith(f"Cannot use image {bad}") and expected in error
    assert expected in composer.error_text() and expected in parts.window.status.last_error
    assert composer.draft() == QUESTION and [a.path for a in composer.attachments()] == [str(bad)]
    assert parts.store.list_conversations() == [] and kept_files() == []
    assert parts.window.isVisible()
