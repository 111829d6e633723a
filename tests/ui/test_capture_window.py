"""Capture in the window on the offscreen screen (in-process, fast), with the real engine reading it.

Offscreen, Qt's screen grab composes this process's own visible windows, so the "other app" is a
plain window the test opens (with known text); the assistant's window and its dialogs must step aside
and never be in the picture. The overlay is driven with Qt's own test events. What is checked: the
chip and the real OCR text, exactly the framed pixels, Esc and a refused capture leave no file, the
files a draft made are gone when the chip is removed or the window closes, a sent capture keeps its
kept copy (for the history) but not its hand-over file, leftovers of a crash are swept, and the
camera entry says why it cannot be used here (no Qt Multimedia, and no camera).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QKeySequence, QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog, QLabel
from window_drops import pixels, wait_idle

from assistant import settings as settings_module
from assistant.images.kept import kept_path
from assistant.ui.app import AssistantApp
from assistant.ui.capture.camera import NO_MULTIMEDIA, camera_availability, multimedia
from assistant.ui.capture.capture_actions import CANCELLED
from assistant.ui.capture.overlay import CaptureOverlay
from assistant.ui.composer.draft_files import file_sha256
from assistant.ui.settings.settings_dialog import SettingsDialog

pytest.importorskip("rapidocr_onnxruntime")
pytestmark = pytest.mark.timeout(300)
WAIT_MS = 120_000
KNOWN_TEXT = "INVOICE 4721 OVERDUE"
KNOWN_RECT = (20, 20, 560, 120)


@pytest.fixture
def known_window(qtbot) -> Iterator[QLabel]:
    """Another window on the screen, with text the OCR can read; not owned by the assistant."""
    label = QLabel(KNOWN_TEXT)
    label.setStyleSheet("font-size: 36px; background: white; color: black; padding: 20px")
    label.setGeometry(*KNOWN_RECT)
    label.show()
    qtbot.waitExposed(label)
    yield label
    label.close()


def capture_files() -> dict[str, list[str]]:
    data = settings_module.data_dir()
    return {name: sorted(p.name for p in (data / name).rglob("*") if p.is_file()) if (data / name).is_dir()
            else [] for name in ("cache/pasted", "images")}  # fmt: skip


def nothing_written() -> dict[str, list[str]]:
    return {"cache/pasted": [], "images": []}


def open_overlay(qtbot, parts: AssistantApp, mode: str) -> CaptureOverlay:
    capture = parts.actions.capture
    capture.capture.step_aside_ms = 20
    assert capture.start(mode)
    assert not parts.window.isVisible()  # stepped aside before the grab
    qtbot.waitUntil(lambda: capture.capture.overlay is not None and capture.capture.overlay.isVisible(),
                    timeout=5000)  # fmt: skip
    overlay = capture.capture.overlay
    assert overlay is not None
    return overlay


def drag(overlay: CaptureOverlay, start: QPoint, end: QPoint) -> None:
    QTest.mousePress(overlay, Qt.MouseButton.LeftButton, pos=start)
    QTest.mouseMove(overlay, (start + end) / 2)
    QTest.mouseMove(overlay, end)
    QTest.mouseRelease(overlay, Qt.MouseButton.LeftButton, pos=end)


def hover(overlay: CaptureOverlay, point: QPoint) -> None:
    """The pointer over `point` with no button down (QTest.mouseMove reaches no widget offscreen)."""
    moved = QMouseEvent(QEvent.Type.MouseMove, QPointF(point), QPointF(overlay.mapToGlobal(point)),
                        Qt.MouseButton.NoButton, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(overlay, moved)


def read_text(qtbot, parts: AssistantApp) -> str:
    """The text the engine read from the last attached image (as soon as it was attached)."""
    questions = parts.controller.attachments
    path = parts.window.composer.attachments()[-1].path
    qtbot.waitUntil(lambda: questions.early(path) is not None and questions.early_pending == 0,
                    timeout=WAIT_MS)  # fmt: skip
    early = questions.early(path)
    assert early is not None and early.found is not None, early
    return early.found.text


def test_a_region_becomes_a_chip_read_at_once(qtbot, make_app, known_window) -> None:
    parts = make_app(engine=False)
    overlay = open_overlay(qtbot, parts, "region")
    x, y, w, h = KNOWN_RECT
    drag(overlay, QPoint(x - 5, y - 5), QPoint(x + w + 4, y + h + 4))
    composer = parts.window.composer
    (attached,) = composer.attachments()
    assert attached.name.startswith("screenshot-") and attached.kind == "image"
    assert QImage(attached.path).size().toTuple() == (w + 10, h + 10)  # exactly the dragged rectangle
    assert parts.window.isVisible() and "region capture" in parts.window.status.message.text()
    qtbot.waitUntil(lambda: composer.chips.chips()[0].has_thumbnail, timeout=WAIT_MS)
    assert read_text(qtbot, parts).replace(" ", "") == KNOWN_TEXT.replace(" ", "")
    assert kept_path(file_sha256(Path(attached.path)) or "", settings_module.data_dir()) is not None


def test_esc_and_a_mere_click_capture_nothing(qtbot, make_app, known_window) -> None:
    parts = make_app(engine=False)
    overlay = open_overlay(qtbot, parts, "region")
    QTest.mouseClick(overlay, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))  # no rectangle: still open
    assert overlay.isVisible() and parts.actions.capture.capture.busy
    QTest.keyClick(overlay, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not parts.actions.capture.capture.busy, timeout=5000)
    assert parts.window.composer.attachments() == []
    assert parts.window.isVisible() and parts.window.status.message.text() == CANCELLED
    assert capture_files() == nothing_written()


def test_a_clicked_window_is_captured_whole(qtbot, make_app, known_window) -> None:
    parts = make_app(engine=False)
    overlay = open_overlay(qtbot, parts, "window")
    x, y, w, h = KNOWN_RECT
    hover(overlay, QPoint(x + 50, y + 50))
    assert overlay.selection.size().toTuple() == (w, h)  # highlighted under the pointer
    QTest.mouseClick(overlay, Qt.MouseButton.LeftButton, pos=QPoint(x + 50, y + 50))
    (attached,) = parts.window.composer.attachments()
    assert QImage(attached.path).size().toTuple() == (w, h)
    assert KNOWN_TEXT.replace(" ", "") in read_text(qtbot, parts).replace(" ", "")


def test_the_full_screen_never_shows_the_window_or_its_dialogs(qtbot, make_app, known_window) -> None:
    parts = make_app(engine=False)
    window = parts.window
    window.setGeometry(0, 200, 800, 560)
    dialog = QDialog(window)  # an open dialog of the window (a preview, the settings): hidden too
    dialog.setWindowTitle("SECRET DIALOG")
    dialog.setGeometry(600, 20, 190, 120)
    QLabel("SECRET 9999", dialog).setStyleSheet("font-size: 30px")
    dialog.show()
    capture = parts.actions.capture
    capture.capture.step_aside_ms = 20
    capture.screen_action.trigger()
    qtbot.waitUntil(lambda: bool(window.composer.attachments()), timeout=5000)
    assert window.isVisible() and dialog.isVisible()  # both back
    text = read_text(qtbot, parts)
    assert KNOWN_TEXT.replace(" ", "") in text.replace(" ", "")
    for own in ("SECRET", "Ask a question", "Attach", "New chat"):
        assert own.lower() not in text.lower(), text


def test_removing_the_chip_or_closing_the_window_deletes_the_capture(qtbot, make_app, known_window) -> None:
    parts = make_app(engine=False)
    capture, composer = parts.actions.capture, parts.window.composer
    capture.capture.step_aside_ms = 20
    capture.screen_action.trigger()
    qtbot.waitUntil(lambda: bool(composer.attachments()), timeout=5000)
    read_text(qtbot, parts)
    assert len(capture_files()["cache/pasted"]) == 1 and len(capture_files()["images"]) == 2
    composer.remove_attachment(composer.attachments()[0])
    assert capture_files() == nothing_written()

    # Removed while the engine is still reading it: the copy the read keeps goes once it ends.
    capture.screen_action.trigger()
    qtbot.waitUntil(lambda: bool(composer.attachments()), timeout=5000)
    composer.remove_attachment(composer.attachments()[0])
    qtbot.waitUntil(lambda: parts.controller.attachments.early_pending == 0, timeout=WAIT_MS)
    assert capture_files() == nothing_written()

    capture.screen_action.trigger()
    qtbot.waitUntil(lambda: bool(composer.attachments()), timeout=5000)
    read_text(qtbot, parts)
    parts.window.close()  # with the draft unsent
    assert capture_files() == nothing_written()


def test_a_sent_capture_keeps_its_copy_for_the_history_and_drops_the_hand_over(
    qtbot, make_app, driver, known_window
) -> None:
    parts = make_app()
    composer = parts.window.composer
    parts.actions.capture.capture.step_aside_ms = 20
    overlay = open_overlay(qtbot, parts, "region")
    x, y, w, h = KNOWN_RECT
    drag(overlay, QPoint(x, y), QPoint(x + w, y + h))
    hand_over = Path(composer.attachments()[0].path)
    digest = file_sha256(hand_over)
    read_text(qtbot, parts)
    driver.ask(parts, "What is the invoice number?")
    wait_idle(qtbot, parts)
    assert parts.controller.attachments.last_error is None, parts.window.status.last_error
    question, answer = parts.store.messages(parts.controller.current_conversation_id)
    (image,) = question.groundings
    assert image.kind == "image" and "4721" in image.text and answer.status == "complete"
    assert not hand_over.exists()  # the engine kept its own copy; the hand-over is not needed
    assert digest is not None and kept_path(digest, settings_module.data_dir()) is not None
    bubble_chip = parts.window.chat_view.bubbles()[0].chips.chips()[0]
    qtbot.waitUntil(lambda: bubble_chip.has_thumbnail, timeout=WAIT_MS)  # shown from the kept copy


def test_a_removed_paste_takes_its_files_but_never_a_copy_the_history_shows(
    qtbot, make_app, driver, tmp_path: Path
) -> None:
    parts = make_app()
    composer = parts.window.composer
    picture = QImage(320, 80, QImage.Format.Format_RGB32)
    picture.fill(Qt.GlobalColor.white)
    composer.editor.insertFromMimeData(pixels(picture))
    read_text(qtbot, parts)
    driver.ask(parts, "What is in this picture?")
    wait_idle(qtbot, parts)
    assert capture_files()["cache/pasted"] == []
    shown = capture_files()["images"]
    assert len(shown) == 2  # the sent picture's copy and thumbnail
    composer.editor.insertFromMimeData(pixels(picture))  # the same picture again, then removed
    read_text(qtbot, parts)
    composer.remove_attachment(composer.attachments()[0])
    assert capture_files() == {"cache/pasted": [], "images": shown}  # the question still shows it


def test_leftovers_of_a_crash_are_swept_at_the_next_start(qtbot, make_app, tmp_path: Path) -> None:
    parts = make_app(engine=False)
    composer = parts.window.composer
    picture = QImage(200, 60, QImage.Format.Format_RGB32)
    picture.fill(Qt.GlobalColor.yellow)
    composer.add_image(picture, prefix="screenshot")
    read_text(qtbot, parts)
    assert len(capture_files()["images"]) == 2
    parts.controller.attachments._attached = set()  # as if the process died with the draft open
    parts.shutdown()
    assert len(capture_files()["cache/pasted"]) == 1
    make_app(engine=False)
    assert capture_files() == nothing_written()


def test_a_capture_is_refused_while_attachments_are_read(qtbot, make_app) -> None:
    parts = make_app(engine=False)
    composer = parts.window.composer
    composer.set_busy(True)
    capture = parts.actions.capture
    assert not capture.button.isEnabled()
    assert not capture.start("region")
    assert parts.window.isVisible() and "Wait for the attachments" in composer.error_text()
    composer.set_busy(False)
    assert capture.button.isEnabled()


def test_where_nothing_can_be_captured_the_entries_say_why(qtbot, make_app) -> None:
    parts = make_app(engine=False)
    capture = parts.actions.capture
    capture._platform_name = "minimal"
    capture.refresh()
    assert not capture.region_action.isEnabled()
    why = capture.region_action.toolTip()
    assert "needs a desktop" in why and "'minimal'" in why
    flow = capture.capture
    flow._platform_name = "minimal"
    assert not capture.start("screen")
    assert "needs a desktop" in parts.window.status.last_error
    assert parts.window.isVisible() and parts.window.composer.attachments() == []


def test_without_a_camera_the_entry_is_disabled_and_says_why(qtbot, make_app) -> None:
    parts = make_app(engine=False)
    capture = parts.actions.capture
    capture.refresh()
    ok, why = camera_availability()
    assert not ok  # this machine has no camera (and, in CI, no Qt Multimedia)
    if multimedia() is None:
        assert why == NO_MULTIMEDIA and "PySide6-Addons" in why
    else:
        assert "No camera found" in why
    assert not capture.camera_action.isEnabled() and capture.camera_action.toolTip() == why
    assert capture.take_photo() is False  # at once: no dialog, nothing waits on a device
    assert parts.window.status.last_error == why and parts.window.composer.attachments() == []


def test_the_capture_key_and_the_global_switch_are_settings(qtbot, make_app, app_dirs: Path) -> None:
    parts = make_app(engine=False)
    capture = parts.actions.capture
    assert capture.region_action.shortcut() == QKeySequence("Ctrl+Alt+A")
    dialog = SettingsDialog(parts.session.settings, [], parts.window, app_dirs / "config" / "settings.json")
    group = dialog.capture
    assert not group.global_key.isEnabled()  # offscreen: no X11 to grab a key on
    assert "X11" in group.global_key_note.text()
    group.key.setKeySequence(QKeySequence("Ctrl+Shift+F9"))
    dialog.accept()
    assert dialog.saved_settings is not None and dialog.saved_settings.capture_key == "Ctrl+Shift+F9"
    parts.actions.apply(dialog.saved_settings, save=False)
    assert capture.region_action.shortcut() == QKeySequence("Ctrl+Shift+F9")
    assert settings_module.load_settings(app_dirs / "config" / "settings.json").capture_key == "Ctrl+Shift+F9"
    parts.actions.apply(dataclasses.replace(dialog.saved_settings, global_capture_key=True), save=False)
    assert not parts.actions.global_capture.hotkey.active  # not available here: nothing grabbed
