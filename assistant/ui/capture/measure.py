"""What a user waits for after a screen capture, in the real window (`assistant bench capture`).

Needs an X11 display (on a machine without one: `xvfb-run -s "-screen 0 1920x1080x24" assistant bench
capture`). A window with a line of known text (a new number each run) stands for the app being asked
about; the assistant's window opens beside it on a fresh data folder, and each run captures the same
region through the real path: the Region action, the window stepping aside, the grab, the overlay,
the rectangle released (Qt test events on the overlay), the PNG hand-over, the chip, the engine's
early read. Timed from the release:
- release → chip: the chip is in the composer with its thumbnail painted;
- release → text read: the engine has read the capture (the first run includes starting the engine
  process and loading the OCR models; the others are warm).
Also from the key: Region → overlay on screen (the step-aside wait, `STEP_ASIDE_MS`, is most of it).

Baselines in the same run, on the same region: Qt's own `QScreen.grabWindow` of the region saved as
PNG (what a plain Qt screenshot tool does; the app grabs the desktop before the overlay instead and
crops after), and RapidOCR with its defaults on the same PNGs in a separate process (warm, as the
engine is: its models loaded first), since OCR must stay out of the window process. The lines of
the report are returned; `cli/bench_capture.py` prints them.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

KNOWN_RECT = (60, 60, 720, 150)
RAW_OCR = """
import json, sys, time
from rapidocr_onnxruntime import RapidOCR
engine = RapidOCR()
paths = sys.argv[1:]
engine(paths[0])  # load and warm up, as the engine process is after its first read
seconds, texts = [], []
for path in paths:
    started = time.perf_counter()
    result, _ = engine(path)
    seconds.append(time.perf_counter() - started)
    texts.append(" ".join(line[1] for line in result or []))
print(json.dumps({"seconds": seconds, "texts": texts}))
"""


class MeasureError(Exception):
    """str() says why nothing could be measured."""


def measure(runs: int = 5) -> list[str]:
    """Time `runs` captures on this display (X11), on a throwaway data folder; the report's lines."""
    from assistant.ui.capture.support import display_problem

    problem = display_problem()
    if problem is not None or not os.environ.get("DISPLAY"):
        raise MeasureError(f"it needs an X11 display: {problem or 'DISPLAY is not set'}")
    with tempfile.TemporaryDirectory(prefix="assistant-bench-capture-") as home:
        os.environ["ASSISTANT_DATA_DIR"] = str(Path(home) / "data")
        os.environ["ASSISTANT_CONFIG_DIR"] = str(Path(home) / "config")
        return _measure(runs, Path(home))


def _measure(runs: int, home: Path) -> list[str]:
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QLabel

    from assistant.settings import Settings
    from assistant.ui.app import build
    from assistant.ui.capture.screen_file import _check_x_display

    _check_x_display()  # Qt would abort without a reachable display
    app = QApplication(["assistant", "-platform", "xcb"])

    def spin(until: Callable[[], bool], timeout: float = 120) -> bool:
        end = time.monotonic() + timeout
        while not until() and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.002)
        return until()

    known = QLabel()
    known.setStyleSheet("font-size: 40px; background: white; color: black; padding: 24px")
    known.setGeometry(*KNOWN_RECT)
    known.show()
    settings = Settings(model="no-chat-model", first_run_done=True)
    parts = build(app, settings, home / "config" / "settings.json")
    window, composer = parts.window, parts.window.composer
    screen = QGuiApplication.primaryScreen().geometry()
    half_w, half_h = screen.width() // 2, screen.height() // 2
    window.setGeometry(half_w, half_h, half_w - 40, half_h - 60)  # beside the known window, not over it
    window.show()
    capture, questions = parts.actions.capture, parts.controller.attachments
    flow = capture.capture
    x, y, w, h = KNOWN_RECT
    rows: list[dict[str, float]] = []
    plain_grab: list[float] = []
    plain_files: list[str] = []
    texts: list[str] = []
    try:
        for run in range(runs):
            text = f"INVOICE {4100 + 37 * run} OVERDUE"
            known.setText(text)
            spin(lambda: False, 0.3)  # repainted
            started = time.perf_counter()
            pixmap = QGuiApplication.primaryScreen().grabWindow(0, x, y, w, h)
            plain_path = home / f"plain-{run}.png"
            pixmap.save(str(plain_path), "PNG")
            plain_grab.append(time.perf_counter() - started)
            plain_files.append(str(plain_path))

            pressed = time.perf_counter()
            capture.start("region")
            if not spin(lambda: flow.overlay is not None and flow.overlay.isVisible(), 10):
                raise MeasureError("the overlay did not open")
            overlay_up = time.perf_counter() - pressed
            overlay = capture.capture.overlay
            QTest.mousePress(overlay, Qt.MouseButton.LeftButton, pos=QPoint(x, y))
            QTest.mouseMove(overlay, QPoint(x + w - 1, y + h - 1))
            released = time.perf_counter()
            QTest.mouseRelease(overlay, Qt.MouseButton.LeftButton, pos=QPoint(x + w - 1, y + h - 1))
            attached = composer.attachments()
            if not attached:
                raise MeasureError(f"nothing was attached: {composer.error_text()}")
            path = attached[-1].path
            spin(lambda: composer.chips.chips()[-1].has_thumbnail)
            chip = time.perf_counter() - released
            spin(lambda: questions.early(path) is not None and questions.early_pending == 0)  # noqa: B023
            read = time.perf_counter() - released
            early = questions.early(path)
            texts.append(early.found.text if early is not None and early.found is not None else "")
            rows.append({"overlay": overlay_up, "chip": chip, "read": read})
            composer.remove_attachment(attached[-1])
            spin(lambda: questions.early_pending == 0)
    finally:
        window.close()
        parts.shutdown()
        known.close()
    raw = subprocess.run([sys.executable, "-c", RAW_OCR, *plain_files], capture_output=True, text=True,
                         timeout=600)  # fmt: skip
    raw_seconds = json.loads(raw.stdout)["seconds"] if raw.returncode == 0 else []
    return _report(rows, plain_grab, raw_seconds, texts, runs)


def _report(rows: list[dict[str, float]], plain_grab: list[float], raw: list[float], texts: list[str],
            runs: int) -> list[str]:  # fmt: skip
    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:7.0f} ms" if values else "      -   "

    warm = rows[1:] or rows
    lines: list[str] = []
    right = sum("OVERDUE" in t.replace(" ", "") and "INVOICE" in t for t in texts)
    lines.append(f"capture, {runs} runs, region {KNOWN_RECT[2]} x {KNOWN_RECT[3]} (medians)")
    lines.append(f"  Region -> overlay on screen (step aside, grab)     {ms([r['overlay'] for r in rows])}")
    lines.append(f"  release -> chip with thumbnail                     {ms([r['chip'] for r in rows])}")
    lines.append(f"  release -> text read, first (engine starts)        {ms([rows[0]['read']])}")
    lines.append(f"  release -> text read, warm                         {ms([r['read'] for r in warm])}")
    lines.append(f"  baseline: QScreen.grabWindow(region) + PNG          {ms(plain_grab)}")
    lines.append(f"  baseline: RapidOCR defaults on the PNG, warm        {ms(raw)}")
    if raw:
        ratio = statistics.median(r["read"] for r in warm) / statistics.median(raw)
        lines.append(f"  app release -> text / raw OCR                      {ratio:7.2f}x")
    lines.append(f"  text read right: {right} of {len(texts)}")
    return lines
