"""While the user types about an image already read, the engine evaluates the question's prompt.

Offscreen Qt, the real engine (RapidOCR, SmolLM2, one thread, temperature 0). The requests are
recorded by wrapping the client's `prefill` and `chat`, so the tests compare the exact messages a
prefill evaluated with the ones Send then asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from error_screenshot import MESSAGE, save_error_dialog
from malformed_images import valid_images
from PySide6.QtCore import Qt
from window_drops import WAIT_MS, drop, files, wait_idle

from assistant.host.client import Handler, Ticket
from assistant.host.messages import ChatRequest, PerceiveRequest, Request
from assistant.protocols import ChatMessage
from assistant.ui.app import AssistantApp

pytest.importorskip("rapidocr_onnxruntime")
pytestmark = pytest.mark.timeout(300)

QUESTION = "What error code is shown?"


@dataclass(frozen=True)
class Sent:
    kind: str  # "prefill" or "chat"
    request_id: int
    messages: tuple[ChatMessage, ...]


def record_requests(parts: AssistantApp, check: Callable[[], None] | None = None) -> list[Sent]:
    """Every prefill and chat request the window sends; `check` runs before each prefill is sent."""
    client = parts.controller.client
    sent: list[Sent] = []
    send = client.send

    def wrapper(request: Request, on_event: Handler) -> Ticket:
        if isinstance(request, ChatRequest) and request.prefill_only and check is not None:
            check()
        ticket = send(request, on_event)
        if isinstance(request, ChatRequest):
            kind = "prefill" if request.prefill_only else "chat"
            sent.append(Sent(kind, ticket.request_id, request.messages))
        return ticket

    client.send = wrapper  # type: ignore[method-assign]
    return sent


def prefills(sent: list[Sent]) -> list[Sent]:
    return [s for s in sent if s.kind == "prefill"]


def attach_and_read(qtbot, parts: AssistantApp, image: Path) -> None:
    questions = parts.controller.attachments
    drop(parts.window, files(image))
    qtbot.waitUntil(lambda: questions.early_pending == 0, timeout=WAIT_MS)
    early = questions.early(str(image))
    assert early is not None and early.found is not None and MESSAGE in early.found.text


def type_text(qtbot, parts: AssistantApp, text: str) -> None:
    editor = parts.window.composer.editor
    editor.setFocus()
    qtbot.keyClicks(editor, text)


def wait_prefilled(qtbot, parts: AssistantApp, sent: list[Sent], ending: str) -> Sent:
    """Until a prefill whose question ends with `ending` was sent and the engine finished it."""
    prefill = parts.controller.attachments.typing_prefill

    def done() -> bool:
        found = prefills(sent)
        return bool(found) and found[-1].messages[-1].content.endswith(ending) and prefill.in_flight is None

    qtbot.waitUntil(done, timeout=WAIT_MS)
    return prefills(sent)[-1]


def press_send(qtbot, parts: AssistantApp) -> None:
    qtbot.keyClick(parts.window.composer.editor, Qt.Key.Key_Return)


def stored_answer(parts: AssistantApp):
    question, answer = parts.store.messages(parts.controller.current_conversation_id)[-2:]
    assert answer.status == "complete" and answer.text.strip(), answer
    return question, answer


def test_send_asks_exactly_what_was_prefilled_and_finds_it_cached(
    qtbot, make_app, tmp_path: Path
) -> None:
    screenshot = save_error_dialog(tmp_path / "error dialog.png")
    parts = make_app()
    sent = record_requests(parts)
    attach_and_read(qtbot, parts, screenshot)
    assert prefills(sent) == []  # nothing typed yet: nothing to predict

    type_text(qtbot, parts, QUESTION)
    prefilled = wait_prefilled(qtbot, parts, sent, QUESTION)
    assert MESSAGE in prefilled.messages[-1].content  # the grounded prompt: what was read, then the question
    assert parts.store.list_conversations() == []  # a prefill stores nothing

    press_send(qtbot, parts)
    wait_idle(qtbot, parts)
    chats = [s for s in sent if s.kind == "chat"]
    assert len(chats) == 1
    assert chats[0].messages == prefilled.messages  # byte for byte what Send built
    question, answer = stored_answer(parts)
    assert question.prompt == prefilled.messages[-1].content
    # The whole prompt was found in the KV cache: Send evaluated nothing new before the first token.
    assert answer.timings["reused_tokens"] >= answer.timings["prompt_tokens"] - 1 > 0, answer.timings


def test_typing_more_sends_a_newer_prefill_one_at_a_time(qtbot, make_app, tmp_path: Path) -> None:
    screenshot = save_error_dialog(tmp_path / "shot.png")
    parts = make_app()
    prefill = parts.controller.attachments.typing_prefill

    def one_at_a_time() -> None:
        assert prefill.in_flight is None, "a second prefill while one is still in the engine"

    sent = record_requests(parts, check=one_at_a_time)
    attach_and_read(qtbot, parts, screenshot)
    type_text(qtbot, parts, "What error")
    first = wait_prefilled(qtbot, parts, sent, "What error")
    type_text(qtbot, parts, " code is shown?")
    second = wait_prefilled(qtbot, parts, sent, QUESTION)
    assert second.request_id != first.request_id
    assert second.messages[:-1] == first.messages[:-1]  # same history; only the user message grew
    assert second.messages[-1].content.startswith(first.messages[-1].content)

    # Send while a prefill is in the engine: it is dropped (never killed) and the answer comes as usual.
    dropped: list[int] = []
    client = parts.controller.client
    original_drop = client.drop
    client.drop = lambda request_id: (dropped.append(request_id), original_drop(request_id))[1]
    type_text(qtbot, parts, " Thanks.")
    prefill.prefill_now()  # at once rather than after the pause; its end is not processed before Send
    in_flight = prefill.in_flight
    assert in_flight is not None and prefills(sent)[-1].request_id == in_flight.request_id
    press_send(qtbot, parts)
    assert dropped == [in_flight.request_id] and prefill.in_flight is None
    wait_idle(qtbot, parts)
    chats = [s for s in sent if s.kind == "chat"]
    assert len(chats) == 1 and chats[0].messages == prefills(sent)[-1].messages
    stored_answer(parts)
    assert parts.window.status.last_error in (None, "")


def test_no_prefill_before_every_image_is_read(qtbot, make_app, tmp_path: Path) -> None:
    screenshot = save_error_dialog(tmp_path / "shot.png")
    bad = tmp_path / "broken.png"
    bad.write_bytes(valid_images()["png"][: len(valid_images()["png"]) // 2])
    parts = make_app()
    questions = parts.controller.attachments

    def all_read() -> None:
        for attachment in parts.window.composer.attachments():
            early = questions.early(attachment.path)
            assert early is not None and not early.pending and early.found is not None

    sent = record_requests(parts, check=all_read)
    drop(parts.window, files(screenshot))
    type_text(qtbot, parts, QUESTION)  # typed while the image is still being read
    early = questions.early(str(screenshot))
    assert early is not None and early.pending
    # Once the reading ends, the typed question is prepared at once (`all_read` checks the order).
    wait_prefilled(qtbot, parts, sent, QUESTION)

    # An unreadable image next to it: Send will refuse, so nothing is prepared.
    before = len(prefills(sent))
    drop(parts.window, files(bad))
    qtbot.waitUntil(lambda: questions.early_pending == 0, timeout=WAIT_MS)
    type_text(qtbot, parts, " Please.")
    # Settled: the typing pause's debounce timer has fired, which is when a prefill would be sent.
    typing = parts.controller.attachments.typing_prefill
    qtbot.waitUntil(lambda: not typing._timer.isActive(), timeout=WAIT_MS)
    assert len(prefills(sent)) == before
    assert parts.controller.attachments.typing_prefill.in_flight is None


def test_an_image_attached_while_answering_is_read_when_the_answer_ends(
    qtbot, make_app, driver, tmp_path: Path
) -> None:
    screenshot = save_error_dialog(tmp_path / "shot.png")
    parts = make_app(max_answer_tokens=120)
    questions = parts.controller.attachments
    perceived: list[str] = []
    client = parts.controller.client
    send = client.send

    def spy(request: Request, on_event: Handler) -> Ticket:
        if isinstance(request, PerceiveRequest):
            perceived.append(request.path)
        return send(request, on_event)

    client.send = spy  # type: ignore[method-assign]
    sent = record_requests(parts)

    driver.ask(parts, driver.long_question)
    assert parts.session.active_turn is not None
    drop(parts.window, files(screenshot))
    assert perceived == [] and questions.early(str(screenshot)) is None  # the engine is busy answering
    type_text(qtbot, parts, QUESTION)
    driver.wait_answered(parts)
    assert perceived == [str(screenshot)]  # queued the moment the answer ended, without Send
    qtbot.waitUntil(lambda: questions.early_pending == 0, timeout=WAIT_MS)
    early = questions.early(str(screenshot))
    assert early is not None and early.found is not None and MESSAGE in early.found.text
    # The question typed meanwhile is prepared with the history that now holds the first answer.
    prefilled = wait_prefilled(qtbot, parts, sent, QUESTION)
    assert [m.role for m in prefilled.messages][-3:] == ["user", "assistant", "user"]
    assert len(parts.store.messages(parts.controller.current_conversation_id)) == 2  # nothing sent

    press_send(qtbot, parts)
    wait_idle(qtbot, parts)
    assert perceived == [str(screenshot)]
    assert [s for s in sent if s.kind == "chat"][-1].messages == prefilled.messages
    question, _ = stored_answer(parts)
    assert MESSAGE in question.groundings[0].text


def test_the_answer_is_the_same_with_or_without_the_prefill(qtbot, make_app, tmp_path: Path) -> None:
    screenshot = save_error_dialog(tmp_path / "shot.png")
    answers: list[str] = []
    asked: list[tuple[ChatMessage, ...]] = []
    for with_prefill in (False, True):  # a fresh engine each: the first must not warm the second's cache
        parts = make_app()
        sent = record_requests(parts)
        attach_and_read(qtbot, parts, screenshot)
        if with_prefill:
            type_text(qtbot, parts, QUESTION)
            wait_prefilled(qtbot, parts, sent, QUESTION)
        else:
            parts.window.composer.set_draft(QUESTION)  # sent before the pause that would prepare it
        press_send(qtbot, parts)
        wait_idle(qtbot, parts)
        assert len(prefills(sent)) == int(with_prefill)
        asked.append(next(s.messages for s in sent if s.kind == "chat"))
        answers.append(stored_answer(parts)[1].text)
        parts.shutdown()
    assert asked[0] == asked[1]
    assert answers[0] == answers[1]
