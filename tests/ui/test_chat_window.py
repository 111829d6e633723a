"""The main flows through the real window: ask, stream, stop, switch, restart, search."""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import Qt

pytestmark = pytest.mark.timeout(240)


def test_question_streams_into_the_view_and_is_stored_complete(qtbot, make_app, driver) -> None:
    parts = make_app()
    view = parts.window.chat_view
    rendered: list[str] = []
    original = view.update_streaming
    view.update_streaming = lambda mid, text: (rendered.append(text), original(mid, text))  # type: ignore

    driver.ask(parts, "What is the capital of France?")
    assert parts.window.composer.draft() == ""  # saved, so the draft is cleared
    assert parts.window.composer.streaming
    driver.wait_answered(parts)

    assert rendered, "tokens were rendered while streaming"
    conversation_id = parts.controller.current_conversation_id
    assert conversation_id is not None
    user, answer = parts.store.messages(conversation_id)
    assert user.text == "What is the capital of France?"
    assert answer.status == "complete" and answer.text.strip()
    shown = view.messages_plain_text()
    assert shown[0] == "What is the capital of France?"
    assert shown[1].split()[:3] == answer.text.split()[:3]  # Markdown rendered, same words
    assert parts.window.sidebar.titles() == ["What is the capital of France?"]
    assert parts.window.status.stats.text()  # first-token time and speed of the last answer


@pytest.mark.parametrize("how", ["button", "escape"])
def test_stop_keeps_the_partial_answer(qtbot, make_app, driver, how: str) -> None:
    parts = make_app(max_answer_tokens=1500)
    driver.ask(parts, driver.long_question)
    driver.wait_streaming_text(parts)
    composer = parts.window.composer
    if how == "button":
        assert composer.button.text() == "Stop"
        qtbot.mouseClick(composer.button, Qt.MouseButton.LeftButton)
    else:
        qtbot.keyClick(composer.editor, Qt.Key.Key_Escape)
    driver.wait_answered(parts)

    conversation_id = parts.controller.current_conversation_id
    answer = parts.store.messages(conversation_id)[1]
    assert answer.status == "stopped" and len(answer.text) >= 10
    bubble = parts.window.chat_view.bubbles()[-1]
    assert bubble.status == "stopped" and not bubble.badge.isHidden()
    assert bubble.text == answer.text
    assert composer.button.text() == "Send"


def test_switching_conversation_mid_stream_does_not_cut_the_answer(qtbot, make_app, driver) -> None:
    parts = make_app()
    driver.ask(parts, "What is the capital of France?")
    driver.wait_answered(parts)
    first_id = parts.controller.current_conversation_id

    parts.window.new_action.trigger()
    parts.session.apply_settings(dataclasses.replace(parts.session.settings, max_answer_tokens=100))
    driver.ask(parts, driver.long_question)
    driver.wait_streaming_text(parts, 5)
    turn = parts.session.active_turn
    assert turn is not None and turn.conversation_id != first_id

    parts.window.sidebar.conversation_selected.emit(first_id)  # what a click in the list does
    assert parts.controller.current_conversation_id == first_id
    assert parts.window.chat_view.messages_plain_text()[0] == "What is the capital of France?"
    driver.wait_answered(parts)

    answer = parts.store.messages(turn.conversation_id)[1]
    assert answer.status == "complete" and answer.text == turn.text and len(answer.text) > 20
    assert len(parts.window.chat_view.bubbles()) == 2  # the view still shows the first chat only
    parts.window.sidebar.conversation_selected.emit(turn.conversation_id)
    assert parts.window.chat_view.bubbles()[-1].text == answer.text


def test_history_comes_back_after_a_restart(qtbot, make_app, driver) -> None:
    parts = make_app()
    driver.ask(parts, "Name a colour.")
    driver.wait_answered(parts)
    answer = parts.store.messages(parts.controller.current_conversation_id)[1].text
    parts.window.close()  # closing shuts the engine down and closes the history

    again = make_app(engine=False)
    assert again.window.sidebar.titles() == ["Name a colour."]
    item = again.window.sidebar.conversations.item(0)
    again.window.sidebar.conversations.setCurrentItem(item)  # as a click does
    texts = again.window.chat_view.messages_plain_text()
    assert texts[0] == "Name a colour." and texts[1].split() == answer.split()


def test_search_finds_a_message_and_opens_its_chat(qtbot, make_app, driver) -> None:
    parts = make_app()
    driver.ask(parts, "Tell me about zebras")
    driver.wait_answered(parts)
    zebra_id = parts.controller.current_conversation_id
    other = parts.store.create_conversation("Cooking")
    parts.store.add_message(other, "user", "How long do I boil an egg?")
    parts.window.new_action.trigger()
    parts.controller.refresh_sidebar()

    sidebar = parts.window.sidebar
    qtbot.keyClicks(sidebar.search_box, "zebr")  # prefix match while typing
    qtbot.waitUntil(
        lambda: sidebar.stack.currentWidget() is sidebar.hits and sidebar.hits.count() > 0,
        timeout=driver.wait_ms,
    )
    hit = sidebar.hits.item(0)
    rect = sidebar.hits.visualItemRect(hit)
    qtbot.mouseClick(sidebar.hits.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert parts.controller.current_conversation_id == zebra_id
    assert parts.window.chat_view.messages_plain_text()[0] == "Tell me about zebras"

    sidebar.search_box.clear()
    qtbot.waitUntil(lambda: sidebar.stack.currentWidget() is sidebar.conversations, timeout=driver.wait_ms)
