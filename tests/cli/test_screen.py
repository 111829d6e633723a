"""`assistant describe --screen` and `assistant ask --screen`: the whole screen, captured by the
command itself, read by the real engine (RapidOCR) and asked about (SmolLM2), on a real X server
(Xvfb) with another app's window on it. Without a display, with one that cannot be opened, and on
Wayland without a desktop portal, the command says why and exits with 1.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_runner import run_assistant, stored_messages
from x_screen import KNOWN_TEXT, known_window, x_env, xvfb

from assistant.images.kept import kept_path

pytest.importorskip("rapidocr_onnxruntime")
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def screen() -> Iterator[str]:
    """An X screen showing a known window for the whole module."""
    with xvfb() as display, known_window(display):
        yield display


@pytest.fixture
def on_screen(screen: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The command runs on that screen; its temporary files go to a folder the test can watch."""
    for name, value in x_env(screen).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # what the suite sets: the command must not care
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    return temp


def run(*args: str, home: Path, **settings: object) -> subprocess.CompletedProcess[str]:
    values = {"threads": 1, "temperature": 0.0, "max_answer_tokens": 40, **settings}
    return run_assistant(*args, data_dir=home / "data", config_dir=home / "config", settings=values,
                         timeout=280)  # fmt: skip


def captures_left(temp: Path) -> list[str]:
    return [p.name for p in temp.iterdir() if p.name.startswith("assistant-screen-")]


def same_text(found: str) -> bool:
    return KNOWN_TEXT.replace(" ", "") in found.replace(" ", "")


def test_describe_reads_the_screen_and_leaves_nothing_behind(on_screen: Path, tmp_path: Path) -> None:
    result = run("describe", "--screen", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert same_text(result.stdout)
    assert "Captured the screen (800 x 600)" in result.stderr
    assert "screen: PNG 800 x 600" in result.stderr  # named "screen", not by a temporary path
    described = run("describe", "--screen", "--json", home=tmp_path)
    found = json.loads(described.stdout)
    assert found["file"] == "screen" and (found["width"], found["height"]) == (800, 600)
    assert same_text(found["text"])
    assert captures_left(on_screen) == []  # the capture's temporary folder is gone
    assert not (tmp_path / "data" / "images").exists()  # describe only looks


def test_ask_about_the_screen_like_an_image(on_screen: Path, tmp_path: Path, smollm2_path: Path) -> None:
    result = run("ask", "--screen", "What is the invoice number?", "--model", str(smollm2_path),
                 home=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    (question, answer) = stored_messages(tmp_path / "data")
    assert question[:2] == ("user", "What is the invoice number?") and answer[2] == "complete"
    found = json.loads(run("describe", "--screen", "--json", home=tmp_path).stdout)
    assert kept_path(found["sha256"], tmp_path / "data") is not None  # ask kept its copy, like --image
    assert captures_left(on_screen) == []


def test_describe_wants_an_image_or_the_screen_not_both(on_screen: Path, tmp_path: Path) -> None:
    both = run("describe", "--screen", str(tmp_path / "shot.png"), home=tmp_path)
    assert both.returncode == 1 and "not both" in both.stderr
    neither = run("describe", home=tmp_path)
    assert neither.returncode == 2 and "IMAGE (or --screen)" in neither.stderr


def test_without_a_display_the_command_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    for command in (["describe", "--screen"], ["ask", "--screen", "what is this?"]):
        result = run(*command, home=tmp_path)
        assert result.returncode == 1
        assert "cannot capture the screen: there is no display" in result.stderr
        assert "Traceback" not in result.stderr
    assert stored_messages(tmp_path / "data") == []


def test_a_display_that_cannot_be_opened_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":97")  # no X server there: Qt would abort the process
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    result = run("describe", "--screen", home=tmp_path)
    assert result.returncode == 1
    assert "cannot open the X display ':97'" in result.stderr and "Traceback" not in result.stderr


def test_on_wayland_without_a_portal_the_command_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("dbus-daemon") is None:
        pytest.skip("needs dbus-daemon")
    daemon = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    try:
        assert daemon.stdout is not None
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", daemon.stdout.readline().strip())
        monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-test")
        result = run("describe", "--screen", home=tmp_path)
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)
    assert result.returncode == 1
    assert "no desktop portal is running" in result.stderr and "xdg-desktop-portal" in result.stderr
