"""The desktop wiring through the app's own start-up (`assistant` with no arguments) on a real X screen
(Xvfb): the tray icon is docked in a tray (tests/x_tray.py stands in for a panel's), the global
push-to-talk key is grabbed, and holding it while another app has the focus records through the
microphone (a recording played through sounddevice's callback path), transcribes, asks and answers:
the question and its answer end up in the history file. Nothing is built by the test; settings.json is
all it writes, as a user's earlier session would have."""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from model_files import smollm2_path
from x_screen import known_window, x_env, xdotool, xvfb

from assistant.settings import Settings, save_settings

pytest.importorskip("faster_whisper")
pytestmark = pytest.mark.timeout(600)

TESTS = Path(__file__).resolve().parents[1]
JFK = TESTS / "data" / "speech" / "jfk.wav"
SPOKEN_S = 4.2  # "And so my fellow Americans, ask not"
WAIT_S = 240.0


class Lines:
    """A process's stdout, read on a thread, so the test can wait for a line with a time limit."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert process.stdout is not None
        stream = process.stdout
        def read() -> None:
            for line in stream:
                self.lines.put(line.strip())

        threading.Thread(target=read, daemon=True).start()

    def expect(self, prefix: str, timeout: float = WAIT_S) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {prefix!r} line; seen: {self.seen}") from None
            self.seen.append(line)
            if line.startswith(prefix):
                return line


def stored(data_dir: Path) -> list[tuple[str, str, str]]:
    path = data_dir / "history.sqlite3"
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        return db.execute("SELECT role, status, text FROM messages ORDER BY id").fetchall()


def test_tray_and_global_key_through_the_apps_own_start_up(tmp_path: Path) -> None:
    model = smollm2_path()
    data, config = tmp_path / "data", tmp_path / "config"
    save_settings(Settings(model=str(model), speech_model="whisper-tiny.en", temperature=0.0,
                           max_answer_tokens=16, context_size=2048, threads=1, first_run_done=True,
                           global_push_to_talk=True, push_to_talk_key="F7", keep_in_tray=True),
                  config / "settings.json")  # fmt: skip
    with xvfb() as display:
        env = x_env(display)
        tray = subprocess.Popen([sys.executable, str(TESTS / "x_tray.py")], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        app: subprocess.Popen[str] | None = None
        try:
            tray_lines = Lines(tray)
            tray_lines.expect("ready", 60)
            app_env = {**env, "ASSISTANT_DATA_DIR": str(data), "ASSISTANT_CONFIG_DIR": str(config),
                       "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])}  # fmt: skip
            session = [sys.executable, str(TESTS / "ui" / "desktop_session.py"), str(JFK), str(SPOKEN_S)]
            app = subprocess.Popen(session, env=app_env, text=True, stdout=subprocess.PIPE)
            app_lines = Lines(app)
            assert tray_lines.expect("dock ").split()[1] != "0x0"  # the app's start-up made a tray icon
            app_lines.expect("grabbed")
            with known_window(display):  # another app on the screen has the focus, not ours
                xdotool(display, "search", "--sync", "--name", "known-window", "windowfocus", "--sync")
                xdotool(display, "keydown", "F7")
                app_lines.expect("recording")
                app_lines.expect("heard-all")  # held while the recording plays, as a speaker would
                xdotool(display, "keyup", "F7")
                deadline = time.monotonic() + WAIT_S
                while [row[:2] for row in stored(data)] != [("user", "complete"), ("assistant", "complete")]:
                    assert app.poll() is None, "the app exited"
                    assert time.monotonic() < deadline, stored(data)
                    time.sleep(0.2)  # polling another process's file: no event reaches this one
            app.send_signal(signal.SIGTERM)  # quits like File ▸ Quit
            assert app.wait(timeout=60) == 0
        finally:
            for process in (app, tray):
                if process is not None and process.poll() is None:
                    process.kill()
                    process.wait()
    (_, _, heard), (_, _, answer) = stored(data)
    assert "fellow americans" in heard.lower(), heard
    assert answer.strip()
