"""Window tests: offscreen Qt, a real history file, the real engine process with SmolLM2-135M."""

from __future__ import annotations

import os

# Before any Qt import: no display is needed (CI machines have none).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from model_files import smollm2_path
from PySide6.QtCore import Qt
from windows import Windows

from assistant.settings import Settings
from assistant.ui.app import AssistantApp

WAIT_MS = 120_000  # two slow, often busy cores: model load plus an answer can take a while
LONG_QUESTION = "Count from 1 to 500, separated by commas. Write every number."



MakeApp = Callable[..., AssistantApp]


@pytest.fixture
def make_app(qtbot, app_dirs: Path) -> Iterator[MakeApp]:  # app_dirs: tests/conftest.py
    """Build windows on the test's history; each is shut down (engine included) at the end."""
    windows = Windows(qtbot)

    def make(*, engine: bool = True, **overrides: object) -> AssistantApp:
        model = str(smollm2_path()) if engine else "no-engine-in-this-test"
        values: dict[str, object] = {
            "model": model,
            "temperature": 0.0,
            "max_answer_tokens": 40,
            "context_size": 2048,
            # One thread: llama.cpp with a thread per core crawls when other work shares the cores.
            "threads": 1,
        }
        settings = Settings(**{**values, **overrides})  # type: ignore[arg-type]
        parts = windows.open(settings, app_dirs / "config" / "settings.json")
        if engine:
            parts.start_engine()
        return parts

    yield make
    windows.close_all()


class Driver:
    """What a user does in the window, plus the waits a slow machine needs."""

    long_question = LONG_QUESTION
    wait_ms = WAIT_MS

    def __init__(self, qtbot) -> None:
        self.qtbot = qtbot

    def ask(self, parts: AssistantApp, text: str) -> None:
        editor = parts.window.composer.editor
        editor.setFocus()
        self.qtbot.keyClicks(editor, text)
        self.qtbot.keyClick(editor, Qt.Key.Key_Return)

    def wait_answered(self, parts: AssistantApp) -> None:
        self.qtbot.waitUntil(lambda: parts.session.active_turn is None, timeout=WAIT_MS)
        assert not parts.window.composer.streaming

    def wait_streaming_text(self, parts: AssistantApp, chars: int = 10) -> None:
        def enough() -> bool:
            turn = parts.session.active_turn
            return turn is not None and len(turn.text) >= chars

        self.qtbot.waitUntil(enough, timeout=WAIT_MS)


@pytest.fixture
def driver(qtbot) -> Driver:
    return Driver(qtbot)
