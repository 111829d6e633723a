"""Models ▸ Browse offscreen against the hub look-alike on 127.0.0.1: search, a repository's files with
their fit, download with progress, Cancel and Resume, offline; and the whole way through the window:
Browse → download SmolLM2 → "Use this model" → it answers, in the window and in `assistant ask`."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_runner import run_assistant
from hub_server import LocalHub
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication
from vision_files import write_tiny_llava

from assistant.host.messages import ModelLoaded
from assistant.models.accelerator import Accelerator
from assistant.models.download import partial_path
from assistant.models.gguf_writer import TensorData, write_gguf
from assistant.ui.models.browse_dialog import FIT_COLOURS, FIT_COLUMN, BrowseDialog

pytestmark = pytest.mark.timeout(300)

TEXT_REPO = "tester/Tiny-Instruct-GGUF"
VISION_REPO = "tester/Tiny-VL-GGUF"
SMOL_REPO = "tester/SmolLM2-135M-Instruct-GGUF"
SMOL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_of_size(path: Path, size: int, seed: int = 0) -> Path:
    data = random.Random(seed).randbytes(size // 4 * 4)
    return write_gguf(path, {"general.architecture": "llama", "llama.embedding_length": 64},
                      [TensorData("w", (len(data) // 4,), 0, data)])


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LocalHub]:
    with LocalHub() as server:
        server.add(TEXT_REPO, "tiny-instruct-Q4_K_M.gguf", gguf_of_size(tmp_path / "q4.gguf", 12_000_000))
        server.add(TEXT_REPO, "tiny-instruct-Q8_0.gguf", gguf_of_size(tmp_path / "q8.gguf", 300_000, seed=1))
        server.add_repo(TEXT_REPO, downloads=500, likes=3, licence="mit")
        server.add(VISION_REPO, "tiny-vl-Q4_K_M.gguf", gguf_of_size(tmp_path / "vl.gguf", 200_000, seed=2))
        server.add(VISION_REPO, "mmproj-F16.gguf", write_tiny_llava(tmp_path / "p.gguf", out_dim=64))
        server.add_repo(VISION_REPO, downloads=900, likes=20, pipeline_tag="image-text-to-text")
        server.add("tester/gated-GGUF", "g-Q4_0.gguf", gguf_of_size(tmp_path / "g.gguf", 1000))
        server.add_repo("tester/gated-GGUF", downloads=10, gated=True)
        yield server


MakeDialog = Callable[..., BrowseDialog]


@pytest.fixture
def make_dialog(qtbot, app_dirs: Path) -> MakeDialog:  # app_dirs: tests/conftest.py
    def make(endpoint: str, **options: object) -> BrowseDialog:
        dialog = BrowseDialog(app_dirs / "data", endpoint, **options)  # type: ignore[arg-type]
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitUntil(lambda: not dialog.waiting() and bool(dialog.status.text()), timeout=30_000)
        return dialog

    return make


def open_repo(qtbot, dialog: BrowseDialog, repo_id: str) -> None:
    dialog.select_repo(repo_id)
    qtbot.waitUntil(lambda: not dialog.waiting() and bool(dialog.file_names()), timeout=30_000)


def test_opening_lists_the_most_downloaded_and_a_search_narrows(qtbot, make_dialog: MakeDialog,
                                                               hub: LocalHub) -> None:
    dialog = make_dialog(hub.endpoint)
    assert dialog.repo_ids() == [VISION_REPO, TEXT_REPO, "tester/gated-GGUF"]
    assert dialog.repos.item(0, 0).text() == f"{VISION_REPO} (vision)"
    assert [dialog.repos.item(1, c).text() for c in range(1, 4)] == ["500", "3", "mit"]
    qtbot.keyClicks(dialog.query, "instruct")
    qtbot.keyClick(dialog.query, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.repo_ids() == [TEXT_REPO], timeout=30_000)
    assert "1 GGUF repositories matching 'instruct'" in dialog.status.text()


def test_offline_says_so_and_stays_usable(qtbot, make_dialog: MakeDialog, hub: LocalHub) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    dialog = make_dialog(dead)
    assert dialog.status.text().startswith("Offline or the hub is unreachable.")
    assert "refused" in dialog.status.text()
    assert dialog.repo_ids() == [] and dialog.isVisible()
    dialog.open_repo(TEXT_REPO)  # the files list says it too
    qtbot.waitUntil(lambda: not dialog.waiting(), timeout=30_000)
    assert dialog.detail.text().startswith("Offline or the hub is unreachable.")
    # Back online (the hub address fixed in Settings): the same dialog works.
    dialog._client.endpoint = hub.endpoint
    dialog.search("tiny")
    qtbot.waitUntil(lambda: bool(dialog.repo_ids()), timeout=30_000)


def test_files_show_quant_size_ram_and_a_coloured_fit(qtbot, make_dialog: MakeDialog, hub: LocalHub) -> None:
    dialog = make_dialog(hub.endpoint)
    open_repo(qtbot, dialog, VISION_REPO)
    assert dialog.file_names() == ["tiny-vl-Q4_K_M.gguf", "mmproj-F16.gguf"]
    cells = [dialog.files.item(0, c).text() for c in range(5)]
    assert cells[:3] == ["tiny-vl-Q4_K_M.gguf", "Q4_K_M", "0 MB"] and cells[3].endswith("GB")
    fit = dialog.files.item(0, FIT_COLUMN)
    assert fit.text() == "fits"  # 200 KB: fits any machine that runs these tests
    assert fit.foreground().color().name() == FIT_COLOURS["fits"] and "tokens/s" in fit.toolTip()
    assert "projector comes with the model" in dialog.detail.text()
    dialog.select_file("mmproj-F16.gguf")  # a projector is not a choice of its own
    assert dialog.selected_file() is None and not dialog.download_button.isEnabled()
    dialog.select_file("tiny-vl-Q4_K_M.gguf")
    assert dialog.download_button.isEnabled()
    assert "Its projector mmproj-F16.gguf" in dialog.detail.text()

    open_repo(qtbot, dialog, "tester/gated-GGUF")
    dialog.select_file("g-Q4_0.gguf")
    assert "gated" in dialog.detail.text() or "gated" in dialog.message.text()
    assert not dialog.download_button.isEnabled()


def test_download_shows_progress_cancels_and_resumes(qtbot, make_dialog: MakeDialog, hub: LocalHub,
                                                     app_dirs: Path, tmp_path: Path) -> None:
    dialog = make_dialog(hub.endpoint)
    open_repo(qtbot, dialog, TEXT_REPO)
    dialog.select_file("tiny-instruct-Q4_K_M.gguf")
    hub.switches.hold_after = 5_000_000  # the transfer stops half way until the test lets it go on
    qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.progress.value() > 0 and "MB/s" in dialog.message.text(), timeout=30_000)
    assert dialog.busy() and dialog.cancel_button.isVisible() and not dialog.download_button.isEnabled()
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    hub.switches.release.set()
    qtbot.waitUntil(lambda: not dialog.busy() and dialog.resume_button.isVisible(), timeout=30_000)
    assert "part already downloaded is kept" in dialog.message.text()
    models = app_dirs / "data" / "models"
    kept = partial_path(models, "tiny-instruct-Q4_K_M.gguf").stat().st_size
    assert kept > 0 and not (models / "tiny-instruct-Q4_K_M.gguf").exists()

    hub.switches.hold_after = None
    changed: list[bool] = []
    dialog.models_changed.connect(lambda: changed.append(True))
    qtbot.mouseClick(dialog.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.use_button.isVisible(), timeout=30_000)
    assert (models / "tiny-instruct-Q4_K_M.gguf").read_bytes() == (tmp_path / "q4.gguf").read_bytes()
    assert hub.requests[-1]["Range"] == f"bytes={kept}-"  # resumed, not started over
    assert dialog.message.text().startswith("Downloaded tiny-instruct-Q4_K_M.gguf.")
    assert changed == [True]


def test_the_models_menu_opens_browse(qtbot, make_app, hub: LocalHub) -> None:
    parts = make_app(engine=False, hub_endpoint=hub.endpoint)
    action = parts.window.browse_models_action
    assert action.text() == "&Browse…" and action in parts.window.menuBar().actions()[2].menu().actions()
    # A GPU build reports its VRAM with each load (no GPU here: the event the engine would send to the
    # preload's handler).
    gpu = Accelerator(backend="CUDA", device="NVIDIA test GPU", vram_mb=8192, gpu_count=1)
    parts.controller._on_load_event(ModelLoaded(0, "some-model", 0.5, 2048, -1, accelerator=gpu))
    seen: list[list[str]] = []

    def look() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, BrowseDialog)
        qtbot.waitUntil(lambda: bool(dialog.repo_ids()), timeout=30_000)
        seen.append(dialog.repo_ids())
        open_repo(qtbot, dialog, TEXT_REPO)
        seen.append([dialog.files.item(0, FIT_COLUMN).toolTip()])
        dialog.reject()

    QTimer.singleShot(0, look)
    action.trigger()  # modal: returns when look() closes it
    assert seen[0] == [VISION_REPO, TEXT_REPO, "tester/gated-GGUF"]
    assert seen[1] == ["on the GPU, ~0.1 GB of memory (0.0 GB in VRAM)"]  # the fit used the VRAM


def test_browse_download_use_and_answer_with_the_downloaded_model(
        qtbot, make_app, driver, smollm2_path: Path, app_dirs: Path) -> None:
    with LocalHub() as hub:
        hub.add(SMOL_REPO, SMOL_FILE, smollm2_path)  # the real model file, served like the hub does
        hub.add_repo(SMOL_REPO, downloads=7000, likes=50)
        parts = make_app(engine=False, hub_endpoint=hub.endpoint, max_answer_tokens=12)
        steps: list[str] = []

        def browse() -> None:  # inside the modal dialog's event loop, as a user would click
            dialog = QApplication.activeModalWidget()
            assert isinstance(dialog, BrowseDialog)
            qtbot.keyClicks(dialog.query, "smollm2")
            qtbot.keyClick(dialog.query, Qt.Key.Key_Return)
            qtbot.waitUntil(lambda: dialog.repo_ids() == [SMOL_REPO], timeout=30_000)
            open_repo(qtbot, dialog, SMOL_REPO)
            dialog.select_file(SMOL_FILE)
            qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda: dialog.use_button.isVisible() or not dialog.busy(), timeout=120_000)
            steps.append(dialog.message.text())
            qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
            dialog.accept()

        QTimer.singleShot(0, browse)
        parts.window.browse_models_action.trigger()

    assert steps and steps[0].startswith(f"Downloaded {SMOL_FILE}."), steps
    downloaded = app_dirs / "data" / "models" / SMOL_FILE
    assert downloaded.read_bytes() == smollm2_path.read_bytes()
    name = "SmolLM2-135M-Instruct.Q4_1"
    assert parts.session.settings.model == name  # "Use this model" chose it, and it was saved
    assert name in [choice for choice, _label in parts.actions.choices]  # the picker lists it

    driver.ask(parts, "What is the capital of France?")
    driver.wait_answered(parts)
    assert parts.controller.current_conversation_id is not None
    _question, answer = parts.store.messages(parts.controller.current_conversation_id)
    assert answer.status == "complete" and answer.text.strip()

    asked = run_assistant("ask", "--no-save", "--model", name, "Say hello.", data_dir=app_dirs / "data",
                          config_dir=app_dirs / "config", timeout=240)
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout.strip()
