"""Sidebar housekeeping (rename, delete) and choosing a model, on a real history file."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

pytestmark = pytest.mark.timeout(240)


def test_rename_and_delete_from_the_sidebar(qtbot, make_app, monkeypatch: pytest.MonkeyPatch) -> None:
    parts = make_app(engine=False)
    store, sidebar = parts.store, parts.window.sidebar
    keep = store.create_conversation("Keep me")
    gone = store.create_conversation("Delete me")
    store.add_message(gone, "user", "secret words")
    parts.controller.refresh_sidebar()
    assert sidebar.titles() == ["Delete me", "Keep me"]  # newest first

    item = sidebar.conversations.item(1)
    item.setText("Renamed chat")  # what finishing an in-place edit (F2 / double-click) does
    assert store.get_conversation(keep).title == "Renamed chat"
    assert sidebar.titles() == ["Delete me", "Renamed chat"]

    parts.controller.open_conversation(gone)
    asked: list[str] = []

    def confirm(*args: object, **kwargs: object) -> QMessageBox.StandardButton:
        asked.append(str(args[2]))
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", confirm)
    sidebar.conversations.setFocus()
    sidebar.select(gone)
    qtbot.keyClick(sidebar.conversations, Qt.Key.Key_Delete)
    assert asked and "Delete me" in asked[0]
    assert [c.title for c in store.list_conversations()] == ["Renamed chat"]
    assert store.search("secret") == []
    assert parts.controller.current_conversation_id is None  # the open chat was the deleted one
    assert parts.window.chat_view.bubbles() == []


def test_choosing_a_model_saves_settings_and_reports_a_bad_file(qtbot, make_app, app_dirs) -> None:
    parts = make_app(engine=False)
    missing = str(app_dirs / "nowhere" / "model.gguf")
    parts.actions.choose_model(missing)
    saved = json.loads((app_dirs / "config" / "settings.json").read_text())
    assert saved["model"] == missing
    assert parts.session.settings.model == missing
    # The preload goes to a real engine process, which answers that the file is missing.
    qtbot.waitUntil(lambda: "could not be loaded" in parts.window.status.last_error, timeout=120_000)
    assert parts.window.isVisible()
    assert parts.window.status.progress.isHidden()
