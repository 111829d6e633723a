"""Single instance: a second `assistant` brings the first window forward and exits 0; a crash's stale
socket does not lock the next launch out. Real processes, real local sockets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMainWindow

from assistant.ui.desktop.single_instance import (
    SingleInstance,
    _someone_listening,
    ask_primary_to_activate,
    bring_forward,
    server_name,
)

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 120  # two busy cores: Qt and the window may take a while to come up


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    config = tmp_path / "config"
    config.mkdir(exist_ok=True)
    # A model that does not exist: the engine reports it at once instead of assembling the bundled one;
    # and no first-run panel (it would measure the bundled models).
    settings = {"model": str(tmp_path / "absent.gguf"), "first_run_done": True}
    (config / "settings.json").write_text(json.dumps(settings))
    return {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "ASSISTANT_DATA_DIR": str(tmp_path / "data"),
        "ASSISTANT_CONFIG_DIR": str(config),
        "HF_HUB_OFFLINE": "1",
        **extra,
    }


def wait_listening(name: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _someone_listening(name):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the first instance never started listening"
        time.sleep(0.2)


def stop(process: subprocess.Popen[str]) -> str:
    """SIGTERM quits like File ▸ Quit; returns everything the process logged."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        _, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return err


def test_names_differ_per_data_folder(tmp_path: Path) -> None:
    first, second = server_name(tmp_path / "a"), server_name(tmp_path / "b")
    assert first != second
    assert first == server_name(tmp_path / "a" / ".." / "a")  # the same folder, spelt differently
    assert len(first) < 40  # Unix socket paths are short


def test_second_launch_brings_the_first_window_forward_and_exits_0(tmp_path: Path) -> None:
    env = environment(tmp_path)
    name = server_name(tmp_path / "data")
    first = subprocess.Popen(
        [sys.executable, "-m", "assistant", "-v"], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_listening(name, first)
        second = subprocess.run(
            [sys.executable, "-m", "assistant", "-v"], cwd=ROOT, env=env, text=True,
            capture_output=True, timeout=60,
        )  # fmt: skip
        assert second.returncode == 0, second.stderr
        assert "already running: its window was brought forward" in second.stderr
        assert first.poll() is None  # the first one keeps running
    finally:
        log = stop(first)
    assert "Another launch asked for the window" in log
    assert "Window brought forward for a second launch" in log


def test_a_stale_socket_from_a_crash_is_replaced(tmp_path: Path) -> None:
    env = environment(tmp_path)
    name = server_name(tmp_path / "data")
    crashed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(f"""
            import os, signal
            from PySide6.QtCore import QCoreApplication
            from assistant.ui.desktop.single_instance import SingleInstance
            app = QCoreApplication([])
            instance = SingleInstance({name!r})
            assert instance.listen()
            os.kill(os.getpid(), signal.SIGKILL)  # no clean-up: the socket file stays behind
        """)],
        cwd=ROOT, env=env, text=True, capture_output=True, timeout=60,
    )  # fmt: skip
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    socket_file = Path(os.environ.get("TMPDIR", tempfile.gettempdir())) / name
    assert socket_file.exists()
    assert ask_primary_to_activate(name) is None  # nobody answers on it

    started = subprocess.run(
        [sys.executable, "-m", "assistant"], cwd=ROOT, env={**env, "ASSISTANT_EXIT_AFTER_SHOWN": "1"},
        text=True, capture_output=True, timeout=START_TIMEOUT_S,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    assert "window-shown" in started.stdout  # it became the primary and opened its window
    assert not socket_file.exists()  # and removed its socket when it quit


def test_listen_fails_quietly_while_a_live_primary_holds_the_name(qtbot, tmp_path: Path) -> None:
    name = server_name(tmp_path / "race")
    primary = SingleInstance(name)
    try:
        assert primary.listen()
        late = SingleInstance(name)
        assert not late.listen()  # the live one is not removed as if it were stale
        assert _someone_listening(name)
    finally:
        primary.close()


@pytest.mark.parametrize("maximised", [False, True])
def test_bring_forward_unminimises_and_keeps_maximised(qtbot, maximised: bool) -> None:
    window = QMainWindow()
    qtbot.addWidget(window)
    window.showMaximized() if maximised else window.show()
    window.showMinimized()
    assert window.isMinimized()
    bring_forward(window)
    assert not window.isMinimized() and window.isVisible()
    assert bool(window.windowState() & Qt.WindowState.WindowMaximized) == maximised
    window.hide()  # hidden in the tray comes back too
    bring_forward(window)
    assert window.isVisible()
