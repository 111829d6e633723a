"""Real windows for the tests: built on the test's settings, shown, and shut down (engine included)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QApplication

from assistant.settings import Settings
from assistant.ui.app import AssistantApp, build


class Windows:
    """The windows one test opened; `close_all` at the fixture's end stops their engine processes."""

    def __init__(self, qtbot: Any) -> None:
        self.qtbot = qtbot
        self.made: list[AssistantApp] = []

    def open(self, settings: Settings, settings_path: Path, sound_device: Any | None = None) -> AssistantApp:
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        parts = build(app, settings, settings_path, sound_device=sound_device)
        self.made.append(parts)
        parts.window.show()
        self.qtbot.waitExposed(parts.window)
        return parts

    def close_all(self) -> None:
        for parts in self.made:
            parts.shutdown()
            parts.window.close()
            parts.window.deleteLater()
