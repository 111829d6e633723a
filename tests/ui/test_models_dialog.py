"""The Models dialog offscreen: real files, a real drop, a real download from a hub on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_server import REPO, LocalHub, random_file
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox
from vision_files import write_model, write_projector

from assistant.models.download import HubFile, partial_path
from assistant.ui.models.models_dialog import ModelsDialog

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def hub() -> Iterator[LocalHub]:
    with LocalHub() as server:
        yield server


@pytest.fixture
def dialog(qtbot, app_dirs: Path) -> ModelsDialog:  # app_dirs: tests/conftest.py
    made = ModelsDialog(app_dirs / "data")
    qtbot.addWidget(made)
    made.show()
    return made


def drop(dialog: ModelsDialog, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    dialog.dropEvent(event)


def test_lists_catalogue_models_with_status(dialog: ModelsDialog) -> None:
    assert "smollm2-135m-instruct" in dialog.names()
    assert "qwen2.5-coder-0.5b-instruct" in dialog.names()
    row = dialog.names().index("smollm2-135m-instruct")
    assert dialog.table.item(row, 4).text() == "Apache-2.0"
    dialog.select("smollm2-135m-instruct")
    assert not dialog.remove_button.isEnabled()  # a catalogue model belongs to pip


def test_drop_adds_a_model_and_its_projector_then_remove(
        qtbot, dialog: ModelsDialog, app_dirs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    downloads = tmp_path / "Downloads"
    downloads.mkdir()
    model = write_model(downloads / "tiny-vl-Q4_K_M.gguf", width=64)
    write_projector(downloads / "mmproj-tiny-vl-f16.gguf", out_dim=64)
    changed: list[bool] = []
    dialog.models_changed.connect(lambda: changed.append(True))
    drop(dialog, [model, downloads / "notes.txt"])  # a non-GGUF in the drop is ignored
    qtbot.waitUntil(lambda: not dialog.busy(), timeout=30_000)
    models = app_dirs / "data" / "models"
    assert sorted(p.name for p in models.glob("*.gguf")) == ["mmproj-tiny-vl-f16.gguf", "tiny-vl-Q4_K_M.gguf"]
    assert "projector" in dialog.message.text()
    assert changed
    assert "tiny-vl-Q4_K_M" in dialog.names()

    monkeypatch.setattr(QMessageBox, "question", lambda *_a, **_k: QMessageBox.StandardButton.Yes)
    dialog.select("tiny-vl-Q4_K_M")
    assert dialog.remove_button.isEnabled()
    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    assert not (models / "tiny-vl-Q4_K_M.gguf").exists()
    assert not (models / "tiny-vl-Q4_K_M.gguf.sha256").exists()
    assert "tiny-vl-Q4_K_M" not in dialog.names()


def test_dropping_a_damaged_gguf_says_why(qtbot, dialog: ModelsDialog, tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 10)
    drop(dialog, [bad])
    qtbot.waitUntil(lambda: not dialog.busy(), timeout=30_000)
    assert "cannot be added" in dialog.message.text()
    assert dialog.isVisible()


def test_download_with_progress_cancel_and_resume(
        qtbot, dialog: ModelsDialog, hub: LocalHub, app_dirs: Path, tmp_path: Path) -> None:
    source = random_file(tmp_path / "weights.bin", 12_000_000)
    hub.add(REPO, "weights.bin", source)
    dialog._endpoint = hub.endpoint
    hub.switches.drop_after = 5_000_000
    dialog.start_download(HubFile(REPO, "weights.bin"))
    qtbot.waitUntil(lambda: not dialog.busy(), timeout=30_000)
    assert "resumes" in dialog.message.text()
    assert dialog.resume_button.isVisible()
    models = app_dirs / "data" / "models"
    assert partial_path(models, "weights.bin").stat().st_size == 5_000_000

    hub.switches.drop_after = None
    seen: list[int] = []
    dialog.progress.valueChanged.connect(seen.append)
    qtbot.mouseClick(dialog.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.busy(), timeout=30_000)
    assert "Downloaded weights.bin" in dialog.message.text()
    assert (models / "weights.bin").read_bytes() == source.read_bytes()
    assert hub.served == 12_000_000
    assert seen and max(seen) > 0
    assert not dialog.resume_button.isVisible()


def test_verify_marks_a_damaged_file(qtbot, dialog: ModelsDialog, app_dirs: Path, tmp_path: Path) -> None:
    model = write_model(tmp_path / "mine.gguf")
    dialog.add([model])
    qtbot.waitUntil(lambda: not dialog.busy(), timeout=30_000)
    added = app_dirs / "data" / "models" / "mine.gguf"
    data = bytearray(added.read_bytes())
    data[-1] ^= 0xFF  # a flipped bit in the tensor data: the structure is still sound
    added.write_bytes(bytes(data))
    dialog.verify()
    qtbot.waitUntil(lambda: not dialog.busy(), timeout=60_000)
    assert dialog.status_of("mine").startswith("DAMAGED")
    assert "mine" in dialog.message.text()
