"""Capture on a real X server (Xvfb): the real window on X11 (`xcb`), another app's window with known
text, the real overlay driven by xdotool (pointer drags, clicks and keys through the X server), the
real engine process reading the capture with RapidOCR.

One run of `capture_x11_driver.py` does the steps in order (Esc, a region, the chip's ×, a window
picked with a click, the full screen, the global key from another app) and reports each; the tests
below check one step each.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from x_screen import KNOWN_RECT, KNOWN_TEXT, known_window, x_env, xvfb

pytest.importorskip("rapidocr_onnxruntime")
pytestmark = pytest.mark.timeout(600)
DRIVER = Path(__file__).with_name("capture_x11_driver.py")


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("capture-x11")
    with xvfb() as display, known_window(display):
        env = x_env(display) | {"ASSISTANT_DATA_DIR": str(home / "data"),
                                "ASSISTANT_CONFIG_DIR": str(home / "config"), "HF_HUB_OFFLINE": "1"}
        run = subprocess.run([sys.executable, str(DRIVER), str(home / "seen.json")], env=env, text=True,
                             capture_output=True, timeout=540)  # fmt: skip
    assert run.returncode == 0, run.stderr[-4000:]
    yield json.loads((home / "seen.json").read_text())


def no_files() -> dict[str, list[str]]:
    return {"cache/pasted": [], "images": []}


def read_well(step: dict[str, Any]) -> None:
    """A chip with its thumbnail, the known text read by the real OCR, the window back on screen."""
    (name,) = step["chips"]
    assert name.startswith("screenshot-") and name.endswith(".png")
    assert step["text"] is not None and KNOWN_TEXT.replace(" ", "") in step["text"].replace(" ", "")
    assert step["thumbnail"] and step["main_visible"]
    assert step["files"]["cache/pasted"] == [name]  # the hand-over file, until the question is sent
    assert len(step["files"]["images"]) == 2  # the copy the early read kept, and its thumbnail


def test_esc_in_the_overlay_attaches_nothing_and_writes_nothing(seen) -> None:
    assert seen["cancel_overlay"] and seen["cancel_main_hidden"]  # the window stepped aside
    cancel = seen["cancel"]
    assert cancel["chips"] == 0 and cancel["files"] == no_files()
    assert cancel["main_visible"]
    assert "cancelled" in cancel["status"].lower()


def test_a_dragged_region_becomes_a_chip_whose_text_is_read(seen) -> None:
    region = seen["region"]
    read_well(region)
    assert region["size"] == [608 - 32 + 1, 168 - 32 + 1]  # exactly the dragged rectangle


def test_removing_the_chip_deletes_the_capture_and_its_kept_copy(seen) -> None:
    assert seen["removed"] == {"chips": 0, "files": no_files()}


def test_a_clicked_window_is_captured_whole(seen) -> None:
    window = seen["window"]
    read_well(window)
    assert window["size"] == list(KNOWN_RECT[2:])


def test_the_full_screen_shows_the_other_app_but_never_this_window(seen) -> None:
    screen = seen["screen"]
    read_well(screen)
    assert screen["size"] == [800, 600]
    # The window sat below the known one, with its menus, buttons and placeholder text: hidden first.
    for own_text in ("Ask a question", "Capture", "Attach", "New chat", "Model"):
        assert own_text.lower() not in screen["text"].lower()


def test_the_global_key_captures_from_another_app_and_brings_the_window_back(seen) -> None:
    assert seen["global_grabbed"] and seen["global_overlay"]
    read_well(seen["global"])


def test_closing_the_window_with_a_draft_leaves_no_capture_behind(seen) -> None:
    assert seen["after_close"]["files"] == no_files()
