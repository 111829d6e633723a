"""The tray icon's menu on the real window (offscreen: Qt reports no tray there, so the app made none
and the test builds the same `Tray` the app builds on a desktop that has one)."""

from __future__ import annotations

from pathlib import Path

from windows import Windows

from assistant.settings import Settings
from assistant.ui.desktop.tray import Tray, create_tray, tray_icon


def open_window(qtbot, app_dirs: Path, **settings: object):
    windows = Windows(qtbot)
    parts = windows.open(Settings(model="no-engine-in-this-test", **settings), app_dirs / "settings.json")  # type: ignore[arg-type]
    quits: list[str] = []
    keep = lambda: parts.session.settings.keep_in_tray  # noqa: E731
    tray = Tray(parts.window, keep, quit_app=lambda: quits.append("quit"))
    tray.show()
    return windows, parts, tray, quits


def test_ask_brings_the_window_back_with_the_cursor_in_the_composer(qtbot, app_dirs: Path) -> None:
    windows, parts, tray, quits = open_window(qtbot, app_dirs)
    try:
        assert [a.text() for a in tray.menu.actions() if not a.isSeparator()] == ["Ask…", "Quit"]
        parts.window.sidebar.setFocus()
        parts.window.showMinimized()
        tray.ask_action.trigger()
        assert parts.window.isVisible() and not parts.window.isMinimized()
        qtbot.waitUntil(lambda: parts.window.composer.editor.hasFocus(), timeout=5000)
        assert not quits
    finally:
        windows.close_all()


def test_quit_in_the_tray_quits_even_when_closing_would_hide(qtbot, app_dirs: Path) -> None:
    windows, parts, tray, quits = open_window(qtbot, app_dirs, keep_in_tray=True)
    closed: list[bool] = []
    parts.window.closing.connect(lambda: closed.append(True))
    tray.icon.isVisible = lambda: True  # offscreen Qt never shows a tray icon; the rule is what is tested
    try:
        tray.quit_action.trigger()
        assert closed == [True] and quits == ["quit"] and parts.window.quitting
        assert not parts.window.isVisible()
    finally:
        windows.close_all()


def test_keep_in_tray_hides_on_close_and_file_quit_still_quits(qtbot, app_dirs: Path) -> None:
    windows, parts, tray, _ = open_window(qtbot, app_dirs, keep_in_tray=True)
    closed: list[bool] = []
    parts.window.closing.connect(lambda: closed.append(True))
    tray.icon.isVisible = lambda: True  # offscreen Qt never shows a tray icon; the rule is what is tested
    try:
        parts.window.close()
        assert parts.window.isHidden() and not closed  # hidden: the engine and model stay warm
        tray.ask_action.trigger()
        assert parts.window.isVisible()
        parts.window.quit_action.trigger()  # File ▸ Quit
        assert closed == [True] and not parts.window.isVisible()
    finally:
        windows.close_all()


def test_without_keep_in_tray_closing_closes(qtbot, app_dirs: Path) -> None:
    windows, parts, tray, _ = open_window(qtbot, app_dirs)
    closed: list[bool] = []
    parts.window.closing.connect(lambda: closed.append(True))
    tray.icon.isVisible = lambda: True
    try:
        parts.window.close()
        assert closed == [True] and not parts.window.isVisible()
    finally:
        windows.close_all()


def test_no_tray_no_icon_and_an_icon_always_exists(qtbot, app_dirs: Path) -> None:
    windows = Windows(qtbot)
    parts = windows.open(Settings(model="no-engine-in-this-test"), app_dirs / "settings.json")
    try:
        assert parts.tray is None  # offscreen has no tray: skipped quietly, closing quits
        assert create_tray(parts.window, lambda: True) is None
        assert not tray_icon().isNull()
    finally:
        windows.close_all()
