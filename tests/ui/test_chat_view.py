"""The chat view on its own: badges from stored statuses, throttled streaming, scrolling, safety."""

from __future__ import annotations

from PySide6.QtCore import QUrl

from assistant.history.store import StoredMessage
from assistant.ui.chat.chat_view import ChatView
from assistant.ui.chat.message_bubble import SafeTextBrowser


def message(mid: int, role: str, text: str, status: str = "complete", timings: dict | None = None):
    return StoredMessage(mid, 1, role, text, status, "m", timings or {}, 0.0)


def test_stored_statuses_show_badges_and_errors(qtbot) -> None:
    view = ChatView()
    qtbot.addWidget(view)
    view.resize(700, 500)
    view.show()
    speed = {"first_token_s": 0.2, "tokens_per_s": 40}
    view.show_messages(
        [
            message(1, "user", "Q <b>not bold</b>"),
            message(2, "assistant", "Partial **answer**", "stopped", speed),
            message(3, "assistant", "Half", "interrupted", {"error": "The engine stopped unexpectedly."}),
            message(4, "assistant", "Could not load.", "failed", {"error": "Could not load."}),
        ]
    )
    user, stopped, interrupted, failed = view.bubbles()
    assert user.plain_text() == "Q <b>not bold</b>"  # the user's text is shown as typed
    assert stopped.plain_text() == "Partial answer"  # Markdown rendered
    assert stopped.badge.text() == "stopped" and "tokens/s" in stopped.meta.text()
    assert interrupted.badge.text() == "interrupted" and "stopped unexpectedly" in interrupted.error.text()
    assert failed.badge.text() == "failed" and failed.error.isHidden()  # its text already says why
    assert user.badge.isHidden()


def test_streaming_renders_throttled_and_follows_unless_scrolled_up(qtbot) -> None:
    view = ChatView()
    qtbot.addWidget(view)
    view.resize(600, 300)
    view.show()
    view.add_message(1, "user", "Count")
    view.add_message(2, "assistant", "", streaming=True)
    text = ""
    for number in range(1, 200):
        text += f"{number}\n\n"
        view.update_streaming(2, text)  # many tokens between two renders: only the last text is drawn
    qtbot.waitUntil(lambda: view.bubble(2).text == text, timeout=5000)
    bar = view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum(), timeout=5000)

    bar.setValue(0)  # the user scrolls up to read
    assert not view.following
    laid_out = bar.maximum()
    view.update_streaming(2, text + "more\n\nand more\n\n")
    view.flush()
    # Settled: the longer answer has been laid out (the scroll range grew), which is when a view that
    # still followed the answer would have jumped to the bottom.
    qtbot.waitUntil(lambda: bar.maximum() > laid_out, timeout=5000)
    assert bar.value() == 0  # left where the user put it


def test_answers_never_load_resources(qtbot) -> None:
    browser = SafeTextBrowser()
    qtbot.addWidget(browser)
    for url in ("http://example.org/x.png", "file:///etc/passwd", "qrc:/x.png", "x.png"):
        assert browser.loadResource(2, QUrl(url)) is None
    assert browser.openLinks() is False and browser.openExternalLinks() is False


def test_dark_theme_re_renders_code(qtbot) -> None:
    view = ChatView(dark=False)
    qtbot.addWidget(view)
    bubble = view.add_message(1, "assistant", "```python\nprint(1)\n```")
    light = bubble.body.toHtml()
    view.set_dark(True)
    assert bubble.body.toHtml() != light
