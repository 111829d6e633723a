"""`assistant bench startup`: cold start to window shown, against a bare Qt window in the same run.

Both are measured from outside (process launch to the line the window prints after its first paint),
so interpreter start-up counts. The bare-Qt baseline is what any PySide6 app pays; the ratio shows what
the app adds on top. Peak RSS of the GUI process comes from wait4() (the model lives in the engine
process, started only after the window is shown; `bench llm` reports that one).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

BARE_QT_WINDOW = """
import time; t0 = time.perf_counter()
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication([])
w = QMainWindow(); w.resize(1000, 700); w.show()
def shown():
    print("window-shown", time.perf_counter() - t0, flush=True); app.quit()
QTimer.singleShot(0, shown)
app.exec()
"""


def _launch(command: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Seconds from launch to the 'window-shown' line, and the process's peak RSS in MB."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    elapsed = float("nan")
    for line in process.stdout:
        if line.startswith("window-shown"):
            elapsed = time.perf_counter() - started
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0 or elapsed != elapsed:
        raise RuntimeError(f"{command} exited {process.returncode} without showing a window")
    return elapsed, usage.ru_maxrss // 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="assistant bench startup")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    env = dict(os.environ)
    if not env.get("DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory() as home:
        # A fresh data/config dir: the first start, with an empty history.
        env.update(ASSISTANT_DATA_DIR=home + "/data", ASSISTANT_CONFIG_DIR=home + "/config")
        env["ASSISTANT_EXIT_AFTER_SHOWN"] = "1"
        app_cmd = [sys.executable, "-m", "assistant"]
        bare_cmd = [sys.executable, "-c", BARE_QT_WINDOW]
        _launch(app_cmd, env)  # warm the OS file cache once, as a second double-click would
        _launch(bare_cmd, env)
        app_runs = [_launch(app_cmd, env) for _ in range(args.runs)]
        bare_runs = [_launch(bare_cmd, env) for _ in range(args.runs)]

    app_s = statistics.median(t for t, _ in app_runs)
    bare_s = statistics.median(t for t, _ in bare_runs)
    app_rss = max(r for _, r in app_runs)
    print(f"platform: {env.get('QT_QPA_PLATFORM') or 'xcb (DISPLAY=' + env['DISPLAY'] + ')'}")
    print(f"{'':28}{'median s':>10}{'peak RSS MB':>13}")
    print(f"{'bare PySide6 window':28}{bare_s:>10.3f}{max(r for _, r in bare_runs):>13}")
    print(f"{'assistant window (cold)':28}{app_s:>10.3f}{app_rss:>13}")
    print(f"ratio app / bare Qt: {app_s / bare_s:.2f}x   target: app <= 1.0 s -> "
          f"{'met' if app_s <= 1.0 else 'NOT met'}")
    return 0
