"""An image attached in the window is perceived right away, so Send only waits for what is left.

Offscreen Qt, the real engine (RapidOCR, SmolLM2, one thread). The perceive requests are counted by
wrapping the client's `send`: one per image, whether the result is finished, in flight or failed
when Send is pressed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from error_screenshot import MESSAGE, save_error_dialog
from malformed_images import valid_images
from window_drops import WAIT_MS, drop, files, support_call, wait_idle

from assistant.host.client import Handler, Ticket
from assistant.host.messages import PerceiveRequest, Request
from assistant.ui.app import AssistantApp
from assistant.ui.composer.attachment_questions import UNREADABLE_NOTE

pytest.importorskip("rapidocr_onnxruntime")
pytestmark = pytest.mark.timeout(300)

QUESTION = "What error code is shown?"


def count_perceived(parts: AssistantApp) -> list[str]:
    """The path of every PerceiveRequest the window sends."""
    client = parts.controller.client
    send = client.send
    paths: list[str] = []

    def wrapper(request: Request, on_event: Handler) -> Ticket:
        if isinstance(request, PerceiveRequest):
            paths.append(request.path)
        return send(request, on_event)

    client.send = wrapper  # type: ignore[method-assign]
    return paths


def count_cancelled(parts: AssistantApp) -> list[int]:
    """The request id of every cancel (what `Ticket.cancel` asks the client to do)."""
    client = parts.controller.client
    cancel = client.cancel
    ids: list[int] = []

    def wrapper(request_id: int) -> None:
        ids.append(request_id)
        cancel(request_id)

    client.cancel = wrapper  # type: ignore[method-assign]
    return ids


def check_grounded(parts: AssistantApp) -> None:
    assert parts.controller.attachments.last_error is None, parts.window.status.last_error
    question, answer = parts.store.messages(parts.controller.current_conversation_id)
    (image,) = question.groundings
    assert image.kind == "image" and MESSAGE in image.text
    assert question.prompt is not None and image.text in question.prompt
    assert answer.status == "complete" and answer.text.strip()


def test_a_dropped_image_is_read_before_send_and_not_again(qtbot, make_app, driver, tmp_path: Path) -> None:
    screenshot = save_error_dialog(tmp_path / "error dialog.png")
    parts = make_app()
    perceived = count_perceived(parts)
    questions = parts.controller.attachments
    drop(parts.window, files(screenshot))
    assert perceived == [str(screenshot)]  # started on the drop, before any Send
    qtbot.waitUntil(lambda: questions.early_pending == 0, timeout=WAIT_MS)
    early = questions.early(str(screenshot))
    assert early is not None and early.found is not None and MESSAGE in early.found.text
    assert parts.window.composer.chips.chips()[0].note.text() == ""

    driver.ask(parts, QUESTION)
    wait_idle(qtbot, parts)
    assert perceived == [str(screenshot)]  # the early result was used
    check_grounded(parts)


def test_send_waits_for_the_reading_in_flight(qtbot, make_app, driver, tmp_path: Path) -> None:
    screenshot = save_error_dialog(tmp_path / "shot.png")
    parts = make_app()
    perceived = count_perceived(parts)
    drop(parts.window, files(screenshot))
    early = parts.controller.attachments.early(str(screenshot))
    assert early is not None and early.pending and early.found is None
    driver.ask(parts, QUESTION)  # at once: the OCR is still running
    wait_idle(qtbot, parts)
    assert perceived == [str(screenshot)]
    check_grounded(parts)


def test_removing_the_chip_cancels_its_reading(qtbot, make_app, driver, tmp_path: Path) -> None:
    screenshot = save_error_dialog(tmp_path / "shot.png")
    parts = make_app()
    perceived = count_perceived(parts)
    cancelled = count_cancelled(parts)
    composer, questions = parts.window.composer, parts.controller.attachments
    drop(parts.window, files(screenshot))
    early = questions.early(str(screenshot))
    assert early is not None and early.ticket is not None
    remove = composer.chips.chips()[0].remove_button
    assert remove is not None
    remove.click()
    assert cancelled == [early.ticket.request_id] and composer.attachments() == []
    qtbot.waitUntil(lambda: questions.early_pending == 0, timeout=WAIT_MS)  # the engine confirmed
    assert composer.error_text() == "" and parts.window.status.last_error in (None, "")

    # The engine is fine afterwards: attached again, it is read again (once) and answered.
    drop(parts.window, files(screenshot))
    assert perceived == [str(screenshot), str(screenshot)]
    driver.ask(parts, QUESTION)
    wait_idle(qtbot, parts)
    assert len(perceived) == 2
    check_grounded(parts)


def test_a_corrupt_image_fails_early_on_its_chip_and_again_at_send(
    qtbot, make_app, driver, tmp_path: Path
) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(valid_images()["png"][: len(valid_images()["png"]) // 2])
    parts = make_app()
    perceived = count_perceived(parts)
    composer, questions = parts.window.composer, parts.controller.attachments
    drop(parts.window, files(bad))
    qtbot.waitUntil(lambda: questions.early_pending == 0, timeout=WAIT_MS)
    early = questions.early(str(bad))
    assert early is not None and early.error is not None and "the file is cut short" in early.error
    chip = composer.chips.chips()[0]
    assert chip.note.text() == UNREADABLE_NOTE and "cut short" in chip.toolTip()

    driver.ask(parts, QUESTION)
    wait_idle(qtbot, parts)
    error = questions.last_error
    assert error is not None and error.startswith(f"Cannot use image {bad}") and "cut short" in error
    assert "cut short" in composer.error_text()
    assert perceived == [str(bad)]  # not asked twice
    assert composer.draft() == QUESTION and [a.path for a in composer.attachments()] == [str(bad)]
    assert parts.store.list_conversations() == []


def test_an_image_read_early_after_a_recording_keeps_the_order(
    qtbot, make_app, driver, tmp_path: Path
) -> None:
    recording = support_call(tmp_path)
    screenshot = save_error_dialog(tmp_path / "shot.png")
    parts = make_app(speech_model="whisper-tiny.en")
    perceived = count_perceived(parts)
    drop(parts.window, files(recording, screenshot))
    assert perceived == [str(screenshot)]
    # Sent at once: the image's reading ends while the job still waits for the transcript; its events
    # are kept until the job gets to the image.
    driver.ask(parts, "Why can the customer not open the folder?")
    wait_idle(qtbot, parts)
    assert perceived == [str(screenshot)]
    assert parts.controller.attachments.last_error is None, parts.window.status.last_error
    question, _ = parts.store.messages(parts.controller.current_conversation_id)
    assert [(g.kind, g.source) for g in question.groundings] == [
        ("transcript", "support call.wav"),
        ("image", "shot.png"),
    ]
    assert MESSAGE in question.groundings[1].text
