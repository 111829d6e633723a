"""Help ▸ Keyboard shortcuts lists every shortcut the window really has; Help ▸ About every model's
licence from the catalogue."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtGui import QAction, QKeySequence
from windows import Windows

from assistant.models.catalog import load_catalog
from assistant.settings import Settings
from assistant.ui.desktop.about import COMPONENTS, AboutDialog
from assistant.ui.desktop.shortcuts_sheet import ShortcutsSheet, key_text


def sheet_rows(sheet: ShortcutsSheet) -> list[tuple[str, str]]:
    table = sheet.table
    return [(table.item(r, 0).text(), table.item(r, 1).text()) for r in range(table.rowCount())]


def test_f1_sheet_lists_every_shortcut_of_the_window(qtbot, app_dirs: Path) -> None:
    windows = Windows(qtbot)
    parts = windows.open(Settings(model="no-engine-in-this-test"), app_dirs / "settings.json")
    try:
        window = parts.window
        extra = QAction("&Frobnicate…", window)  # an action added later shows up without editing the sheet
        extra.setShortcut(QKeySequence("Ctrl+Alt+J"))
        window.menuBar().actions()[0].menu().addAction(extra)
        assert window.shortcuts_action.shortcut() == QKeySequence("F1")
        window.shortcuts_action.trigger()  # F1
        sheet = window.findChild(ShortcutsSheet)
        assert sheet is not None and sheet.isVisible()
        rows = sheet_rows(sheet)
        keys = [k for k, _ in rows]
        with_shortcuts = [a for a in window.findChildren(QAction) if not a.shortcut().isEmpty()]
        assert len(with_shortcuts) >= 7  # New, Attach, Export, Settings, Quit, Search images, F1 at least
        for action in with_shortcuts:
            assert any(key_text(action.shortcut()) in k for k in keys), action.text()
        assert ("Ctrl+Alt+J", "File ▸ Frobnicate") in rows
        assert ("F1", "Help ▸ Keyboard shortcuts") in rows
        assert ("Ctrl+E", "File ▸ Export ▸ Export as Markdown") in rows  # a submenu keeps its whole path
        for key in ("Enter", "Shift+Enter", "Esc"):
            assert key_text(key) in keys
        assert "Hold F8" in keys  # the push-to-talk key from the settings...
        sheet.close()
        parts.session.apply_settings(dataclasses.replace(parts.session.settings, push_to_talk_key="F9"))
        window.shortcuts_action.trigger()
        # The closed sheet deletes itself; the new one reads the settings as they are now.
        qtbot.waitUntil(lambda: len(window.findChildren(ShortcutsSheet)) == 1, timeout=5000)
        assert "Hold F9" in [k for k, _ in sheet_rows(window.findChild(ShortcutsSheet))]
    finally:
        windows.close_all()


def test_about_names_the_version_and_every_catalogue_models_licence(qtbot, app_dirs: Path) -> None:
    windows = Windows(qtbot)
    parts = windows.open(Settings(model="no-engine-in-this-test"), app_dirs / "settings.json")
    try:
        parts.window.about_action.trigger()
        about = parts.window.findChild(AboutDialog)
        assert about is not None and about.isVisible()
        text = about.text.toPlainText()
        import assistant

        assert f"Assistant {assistant.__version__}" in text
        models = [m for m in load_catalog() if m.source != "hub"]  # bundled; downloads: Models dialog
        assert models
        for entry in models:
            assert entry.title in text, entry.title
            start = text.index(entry.title) + len(entry.title)
            row = text[start : start + 200].split("\n\n")[0]  # the table's next cells: licence, source
            assert row.strip().split("\n")[0] == entry.licence, (entry.title, row)  # a cell a line
            packages = [p.package for p in entry.parts] + [p.package for f in entry.files for p in f.parts]
            assert next(p for p in packages if p) in row  # where the weights come from
        for what, _, licence in COMPONENTS:
            assert what in text and licence in text
        assert "llama.cpp" in text and "MIT" in text and "LGPL-3.0" in text and "CC0-1.0" in text
    finally:
        windows.close_all()
