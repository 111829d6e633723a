"""`assistant bench startup`: cold start to window shown, against a bare Qt window in the same run.

Both are measured from outside (process launch to the line the window prints after its first paint),
so interpreter start-up counts. The bare-Qt baseline is what any PySide6 app pays; the ratio shows what
the app adds on top. Peak RSS of the GUI process comes from wait4() (the model lives in the engine
process, started only after the window is shown; `bench llm` reports that one).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from assistant.settings import data_dir

# Run in a child interpreter; the bench process itself never imports Qt.
BARE_QT_WINDOW = """
import time; t0 = time.perf_counter()
import importlib; QTimer = importlib.import_module("PySide6.QtCore").QTimer
QtWidgets = importlib.import_module("PySide6.QtWidgets")
QApplication, QMainWindow = QtWidgets.QApplication, QtWidgets.QMainWindow
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


def _rss_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return 0


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def idle_rss(env: dict[str, str], settle_s: float = 90.0) -> tuple[int, int]:
    """RSS (MB) of the window process and of the engine process once the default model is loaded.

    The app preloads the model after the window shows; we wait until the engine's RSS stops growing.
    """
    process = subprocess.Popen([sys.executable, "-m", "assistant"], env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + settle_s
        last, stable_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(1.0)
            engines = [c for c in _children(process.pid) if _rss_mb(c) > 50]
            engine_rss = max((_rss_mb(c) for c in engines), default=0)
            if engine_rss != last:
                last, stable_since = engine_rss, time.monotonic()
            elif engine_rss > 200 and time.monotonic() - stable_since > 3:
                break
        return _rss_mb(process.pid), last
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="assistant bench startup")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--idle-rss", action="store_true", help="also measure idle RSS with the default model loaded"
    )
    parser.add_argument(
        "--app", metavar="EXECUTABLE",
        help="measure this executable instead of `python -m assistant` (the desktop bundle: "
        "dist/assistant/assistant; its target is 1.5 s)",
    )
    args = parser.parse_args(argv)

    env = dict(os.environ)
    if not env.get("DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory() as home:
        # A fresh data/config dir: the first start, with an empty history.
        env.update(ASSISTANT_DATA_DIR=home + "/data", ASSISTANT_CONFIG_DIR=home + "/config")
        env["ASSISTANT_EXIT_AFTER_SHOWN"] = "1"
        app_cmd = [os.path.abspath(args.app)] if args.app else [sys.executable, "-m", "assistant"]
        bare_cmd = [sys.executable, "-c", BARE_QT_WINDOW]
        _launch(app_cmd, env)  # warm the OS file cache once, as a second double-click would
        _launch(bare_cmd, env)
        app_runs = [_launch(app_cmd, env) for _ in range(args.runs)]
        bare_runs = [_launch(bare_cmd, env) for _ in range(args.runs)]
        # The bundle against the same app from this checkout, in the same run: what freezing costs.
        checkout_cmd = [sys.executable, "-m", "assistant"]
        checkout_runs = [_launch(checkout_cmd, env) for _ in range(args.runs)] if args.app else []
        rss = None
        if args.idle_rss:
            # The bundled model is assembled in the user's real data dir (or ASSISTANT_DATA_DIR).
            idle_env = {k: v for k, v in env.items() if k != "ASSISTANT_EXIT_AFTER_SHOWN"}
            idle_env["ASSISTANT_DATA_DIR"] = os.environ.get("ASSISTANT_DATA_DIR", str(data_dir()))
            rss = idle_rss(idle_env)

    app_s = statistics.median(t for t, _ in app_runs)
    bare_s = statistics.median(t for t, _ in bare_runs)
    app_rss = max(r for _, r in app_runs)
    print(f"platform: {env.get('QT_QPA_PLATFORM') or 'xcb (DISPLAY=' + env['DISPLAY'] + ')'}")
    print(f"{'':28}{'median s':>10}{'peak RSS MB':>13}")
    print(f"{'bare PySide6 window':28}{bare_s:>10.3f}{max(r for _, r in bare_runs):>13}")
    label = "bundled window (cold)" if args.app else "assistant window (cold)"
    target_s = 1.5 if args.app else 1.0  # issue #6 (bundle) and issue #3 (from a checkout)
    print(f"{label:28}{app_s:>10.3f}{app_rss:>13}")
    print(f"ratio app / bare Qt: {app_s / bare_s:.2f}x   target: app <= {target_s} s -> "
          f"{'met' if app_s <= target_s else 'NOT met'}")
    if checkout_runs:
        checkout_s = statistics.median(t for t, _ in checkout_runs)
        print(f"{'python -m assistant (cold)':28}{checkout_s:>10.3f}"
              f"{max(r for _, r in checkout_runs):>13}")
        print(f"ratio bundle / checkout: {app_s / checkout_s:.2f}x")
    if rss is not None:
        print(f"idle RSS with the default model loaded: window process {rss[0]} MB, "
              f"engine process {rss[1]} MB")
    return 0
