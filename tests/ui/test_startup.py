"""Start-up stays lean, and the PySide6 reference-count guard keeps long sessions alive."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "ASSISTANT_DATA_DIR": str(tmp_path / "data"),
        "ASSISTANT_CONFIG_DIR": str(tmp_path / "config"),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=120,
    )


def test_window_shows_without_loading_models_or_markdown(tmp_path: Path) -> None:
    result = run_python(
        """
        import sys
        from assistant.ui.app import run_gui
        code = run_gui(["assistant"])
        heavy = [m for m in ("llama_cpp", "numpy", "markdown", "pygments") if m in sys.modules]
        print("heavy", heavy, "code", code)
        """,
        tmp_path,
        ASSISTANT_EXIT_AFTER_SHOWN="1",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    shown = [line for line in lines if line.startswith("window-shown ")]
    assert shown, result.stdout
    # How fast is `assistant bench startup`'s to say (against a bare Qt window, same run); a hang
    # is run_python's timeout. Here: the window painted, after the process started.
    assert float(shown[0].split()[1]) > 0
    assert "heavy [] code 0" in lines


def test_thousands_of_qt_calls_and_signals_do_not_abort_the_process(tmp_path: Path) -> None:
    """PySide6 6.12.0 on Python 3.11 drops a reference to None/True per call (see qt_compat)."""
    result = run_python(
        """
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication, QLabel
        from assistant.ui.app import build
        app = QApplication([])
        parts = build(app)
        label, timer = QLabel(), QTimer()
        for _ in range(30000):
            label.setText("x")
            timer.timeout.emit()
            parts.bridge.deliver(lambda event: None, None)
        app.processEvents()
        parts.shutdown()
        print("survived")
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "survived" in result.stdout


def test_the_markdown_renderer_loads_off_the_gui_thread_once_the_engine_starts(tmp_path: Path) -> None:
    """Not at start-up (the test above), and not at the first answer's first token either, where it
    cost ~90 ms of CPU on the GUI thread: on its own thread when the engine starts."""
    result = run_python(
        """
        import threading
        from PySide6.QtWidgets import QApplication
        from assistant.settings import Settings
        from assistant.ui.app import build
        from assistant.ui.chat import markdown_render
        app = QApplication([])
        parts = build(app, Settings(model="no-engine-in-this-test"))
        built_on = []
        build_parser = markdown_render._build
        markdown_render._build = lambda: (built_on.append(threading.current_thread().name), build_parser())[1]
        parts.start_engine()
        for thread in threading.enumerate():
            if thread.name == "markdown-warm-up":
                thread.join(60)
        parts.shutdown()
        print("built on", built_on)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "built on ['markdown-warm-up']" in result.stdout
