"""Runs the real window on an X screen (DISPLAY) and captures through the real overlay, driven by
xdotool; writes what it saw as JSON (argv[1]). Started by test_capture_x11.py, never collected.

Each step: the Capture action (or the global key), the overlay on screen, xdotool's pointer and keys
through the X server, then what the composer shows and what the engine's OCR read, and which files
exist. The engine process starts on the first read; no chat model is loaded.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    out = Path(sys.argv[1])
    look = Path(os.environ["CAPTURE_LOOK_DIR"]) if os.environ.get("CAPTURE_LOOK_DIR") else None
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from assistant import settings as settings_module
    from assistant.settings import Settings
    from assistant.ui.app import build

    app = QApplication([])
    settings = Settings(model="no-chat-model-in-this-test", threads=1, first_run_done=True)
    parts = build(app, settings, Path(os.environ["ASSISTANT_CONFIG_DIR"]) / "settings.json")
    window, composer = parts.window, parts.window.composer
    window.setGeometry(0, 230, 800, 370)  # below the known window: a full-screen shot would show it
    window.show()
    capture = parts.actions.capture
    questions = parts.controller.attachments
    data_dir = settings_module.data_dir()
    results: dict[str, object] = {}

    def spin(until, timeout: float = 60) -> bool:
        end = time.monotonic() + timeout
        while not until() and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)
        return bool(until())

    def xdotool(*args: str) -> None:
        """Runs while the event loop keeps going, as a user's hand would."""
        process = subprocess.Popen(["xdotool", *args])
        spin(lambda: process.poll() is not None, 30)

    def overlay_up() -> bool:
        ok = spin(lambda: capture.capture.overlay is not None and capture.capture.overlay.isVisible(), 10)
        spin(lambda: False, 0.3)  # mapped and painted
        return ok

    def files() -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for name in ("cache/pasted", "images"):
            folder = data_dir / name
            found[name] = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) \
                if folder.is_dir() else []
        return found

    def shot(name: str) -> None:
        if look is not None:
            QGuiApplication.primaryScreen().grabWindow(0).save(str(look / f"{name}.png"))

    def chip_and_text() -> dict[str, object]:
        spin(lambda: bool(composer.attachments()), 15)
        attached = composer.attachments()
        if not attached:
            return {"chips": [], "error": composer.error_text()}
        path = attached[-1].path
        spin(lambda: questions.early(path) is not None and questions.early_pending == 0, 120)
        early = questions.early(path)
        chip = composer.chips.chips()[-1]
        spin(lambda: chip.has_thumbnail, 10)
        from PySide6.QtGui import QImage

        image = QImage(path)
        return {
            "chips": [a.name for a in attached],
            "text": early.found.text if early is not None and early.found is not None else None,
            "size": [image.width(), image.height()],
            "thumbnail": chip.has_thumbnail,
            "main_visible": window.isVisible(),
            "files": files(),
        }

    # 1. Esc in the overlay: nothing attached, nothing written, the window back.
    capture.region_action.trigger()
    results["cancel_overlay"] = overlay_up()
    results["cancel_main_hidden"] = not window.isVisible()
    shot("1-overlay")
    xdotool("key", "Escape")
    spin(lambda: not capture.capture.busy, 10)
    results["cancel"] = {"chips": len(composer.attachments()), "files": files(),
                         "main_visible": window.isVisible(), "status": window.status.message.text()}

    # 2. A region dragged around the known window.
    capture.region_action.trigger()
    overlay_up()
    xdotool("mousemove", "--sync", "32", "32", "mousedown", "1", "mousemove", "--sync", "300", "100",
            "mousemove", "--sync", "608", "168")
    spin(lambda: False, 0.3)
    shot("2-dragging")
    xdotool("mouseup", "1")
    results["region"] = chip_and_text()
    spin(lambda: False, 0.5)
    shot("3-chip")
    window.grab().save(str(look / "3-window.png")) if look is not None else None

    # 3. The chip's ×: the hand-over file and the kept copy go.
    composer.remove_attachment(composer.attachments()[0])
    spin(lambda: questions.early_pending == 0, 30)
    results["removed"] = {"chips": len(composer.attachments()), "files": files()}

    # 4. A window picked with a click.
    capture.window_action.trigger()
    overlay_up()
    xdotool("mousemove", "--sync", "100", "80")
    spin(lambda: False, 0.3)
    shot("4-window-pick")
    xdotool("click", "1")
    results["window"] = chip_and_text()
    composer.clear_attachments()
    spin(lambda: questions.early_pending == 0, 30)

    # 5. The full screen: the known window is in it, this window is not.
    capture.screen_action.trigger()
    results["screen"] = chip_and_text()
    composer.clear_attachments()
    spin(lambda: questions.early_pending == 0, 30)

    # 6. The global key, pressed while another app has the focus and this window is hidden.
    parts.actions.apply(dataclasses.replace(parts.session.settings, global_capture_key=True), save=False)
    hotkey = parts.actions.global_capture.hotkey
    results["global_grabbed"] = spin(lambda: hotkey.wait_grabbed(0.05), 10)
    window.hide()
    xdotool("search", "--sync", "--name", "known-window", "windowfocus", "--sync")
    xdotool("key", "ctrl+alt+a")
    results["global_overlay"] = overlay_up()
    xdotool("mousemove", "--sync", "32", "32", "mousedown", "1", "mousemove", "--sync", "608", "168",
            "mouseup", "1")
    results["global"] = chip_and_text()

    window.close()  # as a user closes it: the draft's files go while the history is still open
    parts.shutdown()
    results["after_close"] = {"files": files()}
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
