"""Models ▸ Manage models ▸ Recommended downloads offscreen: the real picks listed with size, memory and
fit (nothing connects), and one pick fetched with Get from a hub on 127.0.0.1, interrupted, resumed, and
then offered in Settings ▸ Voice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_server import LocalHub, random_file
from pick_catalog import folder_entry, serve_folder, write_catalog
from PySide6.QtCore import Qt

from assistant.models.catalog import EXTRA_CATALOG_ENV
from assistant.settings import Settings
from assistant.ui.models.models_dialog import ModelsDialog
from assistant.ui.settings.settings_dialog import SettingsDialog

pytestmark = pytest.mark.timeout(120)
REPO = "tester/whisper-tiny-pick"


@pytest.fixture
def hub() -> Iterator[LocalHub]:
    with LocalHub() as server:
        yield server


@pytest.fixture
def speech_pick(hub: LocalHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder pick (offered like a real one: not tagged "test") served by the local hub."""
    folder = tmp_path / "hub" / "speech"
    folder.mkdir(parents=True)
    random_file(folder / "model.bin", 8_000_000)
    (folder / "config.json").write_text("{}", encoding="utf-8")
    (folder / "tokenizer.json").write_text("{}", encoding="utf-8")
    serve_folder(hub, REPO, folder)
    catalog = write_catalog(tmp_path / "picks.toml",
                            folder_entry("speech-pick", "stt", REPO, folder, tags=("pick",)))
    monkeypatch.setenv(EXTRA_CATALOG_ENV, str(catalog))
    return folder


def test_recommended_picks_are_listed_with_what_they_cost_and_nothing_connects(
        qtbot, app_dirs: Path, hub: LocalHub) -> None:
    dialog = ModelsDialog(app_dirs / "data", hub_endpoint=hub.endpoint)
    qtbot.addWidget(dialog)
    dialog.show()
    names = [e.name for e in dialog.recommended.picks]
    assert names == ["llama-3.2-3b-instruct", "qwen2.5-7b-instruct", "gemma-3-4b-it-vision",
                     "clip-vit-b-32-openai", "whisper-small"]
    assert "smollm2-135m-instruct" not in names  # tagged "test": never recommended
    row = names.index("gemma-3-4b-it-vision")
    cells = [dialog.recommended.item(row, c).text() for c in range(dialog.recommended.columnCount())]
    assert cells[1] == "answers (reads images)" and cells[2] == "3.34 GB" and cells[3] == "4,500 MB"
    assert cells[4] in ("yes", "if other programs close", "no", "unknown")
    assert cells[5] == "Gemma Terms of Use" and cells[6] == "not downloaded"
    assert not set(names) & set(dialog.names())  # not downloaded: not among the models below
    assert not dialog.get_button.isEnabled()  # nothing selected yet
    dialog.recommended.select("whisper-small")
    assert dialog.get_button.isEnabled()
    assert hub.requests == []


def test_get_downloads_a_pick_resumes_it_and_settings_offer_it(
        qtbot, app_dirs: Path, hub: LocalHub, speech_pick: Path) -> None:
    dialog = ModelsDialog(app_dirs / "data", hub_endpoint=hub.endpoint)
    qtbot.addWidget(dialog)
    dialog.show()
    changed: list[bool] = []
    dialog.models_changed.connect(lambda: changed.append(True))
    dialog.recommended.select("speech-pick")
    hub.switches.drop_after = 3_000_000
    qtbot.mouseClick(dialog.get_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.busy(), timeout=30_000)
    assert "resumes" in dialog.message.text() and dialog.resume_button.isVisible()
    assert dialog.recommended.status_text("speech-pick").startswith("not downloaded: partly downloaded")

    hub.switches.drop_after = None
    qtbot.mouseClick(dialog.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.busy(), timeout=30_000)
    assert "Installed speech-pick" in dialog.message.text() and "Settings ▸ Voice" in dialog.message.text()
    home = app_dirs / "data" / "models" / "whisper" / "speech-pick"
    assert (home / "model.bin").read_bytes() == (speech_pick / "model.bin").read_bytes()
    assert dialog.recommended.status_text("speech-pick") == "installed"
    assert "speech-pick" in dialog.names() and changed
    assert not dialog.get_button.isEnabled() and not dialog.resume_button.isVisible()

    settings = SettingsDialog(Settings(), [])
    qtbot.addWidget(settings)
    offered = [settings.speech_model.itemData(i) for i in range(settings.speech_model.count())]
    assert offered == ["", "whisper-base", "whisper-tiny.en", "speech-pick"]  # whisper-small: not downloaded
