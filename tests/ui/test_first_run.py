"""The hardware and models panel: hardware filled in, a real benchmark of SmolLM2 in the engine
process, a recommendation, "Use this model", and Close cancelling the benchmark in flight.

The panel is given a small catalogue (SmolLM2 as the one bundled model, plus a model whose packages
are not installed) so the test prepares and measures ~100 MB, not the 491 MB default model.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from model_files import smollm2_path
from PySide6.QtCore import Qt

from assistant import settings as settings_module
from assistant.models import catalog
from assistant.ui.models.first_run import FirstRunPanel

pytest.importorskip("llama_cpp")
pytestmark = pytest.mark.timeout(300)

WAIT_MS = 120_000
SMOLLM2 = "smollm2-135m-instruct"


def small_catalogue() -> tuple[list[catalog.ModelEntry], list[catalog.ModelEntry]]:
    # Untagged: here it stands in for a bundled model (the real entry is tagged "test", never offered).
    smollm2 = dataclasses.replace(catalog.find_model(SMOLLM2, Path("/nonexistent")), tags=())
    absent = catalog.ModelEntry(
        name="absent-7b", title="Absent 7B (not installed)", role="chat", filename="absent-7b.gguf",
        sha256=None, size=4_400_000_000, ram_mb=5200, licence="Apache-2.0", source="pypi-file",
        parts=(catalog.PartRef("absent.gguf", package="no-such-package-for-tests"),),
    )
    return [smollm2, absent], [smollm2]


def cell(panel: FirstRunPanel, row: int, column: str) -> str:
    return panel.table.text(row, column)


def test_first_start_measures_recommends_and_then_starts_the_engine(make_app, qtbot, app_dirs: Path) -> None:
    smollm2_path()
    parts = make_app(engine=False, model=str(smollm2_path()))
    assert parts.first_run is not None and parts.first_run.panel is None  # tests never see it unasked
    entries, bundled = small_catalogue()
    parts.first_run.survey_args = {"entries": entries, "bundled": bundled}

    parts.start_first_run()  # what run_gui does after the first paint when first_run_done is false
    panel = parts.first_run.panel
    assert panel is not None and panel.isVisible()
    qtbot.waitUntil(lambda: ("benchmark", SMOLLM2, "complete") in panel.outcomes, timeout=WAIT_MS)

    assert ("prepare", SMOLLM2, "complete") in panel.outcomes  # the bundled model was verified first
    assert catalog.model_status(bundled[0], settings_module.data_dir()) == catalog.READY
    assert "CPU cores:" in panel.machine_label.text() and "Memory:" in panel.machine_label.text()
    # The engine's own report of this CPU build: no GPU, none of SmolLM2's 30 + 1 layers offloaded.
    assert panel.gpu_label.text().startswith("GPU: none (CPU build of llama.cpp), 0/31 layers offloaded. ")
    assert panel.table.rowCount() == 2
    assert cell(panel, 0, "Model") == "★ " + entries[0].title  # measured and recommended
    assert cell(panel, 0, "Size") == "98 MB" and cell(panel, 0, "RAM need") == "300 MB"
    speed = panel.speeds[SMOLLM2]
    assert speed.decode_tokens_per_s > 0 and speed.prompt_tokens_per_s > 0
    # Marked when other programs took over a quarter of the CPU meanwhile (the test-suite shares it).
    busy = " (CPU busy)" if speed.busy else ""
    assert cell(panel, 0, "Answer speed") == f"{speed.decode_tokens_per_s:.1f} tok/s{busy}"
    assert cell(panel, 1, "Status") == "not installed" and cell(panel, 1, "Answer speed") == ""
    assert panel.recommended == SMOLLM2
    assert panel.recommendation.text().startswith(f"Recommended: {entries[0].title}.")
    assert not panel.progress.isVisible()

    # The queue is done: the engine starts and preloads the chosen model, as on any other start.
    assert parts.engine_requested
    qtbot.waitUntil(lambda: parts.window.status.message.text().startswith("Model ready"), timeout=WAIT_MS)
    saved = settings_module.load_settings(app_dirs / "config" / "settings.json")
    assert saved.first_run_done  # the next start goes straight to the chat


def test_use_this_model_and_close_cancels(make_app, qtbot, app_dirs: Path) -> None:
    smollm2_path()
    parts = make_app(engine=False)
    entries, bundled = small_catalogue()
    parts.first_run.survey_args = {"entries": entries, "bundled": bundled}
    panel = parts.first_run.open()  # Help ▸ Hardware and models…
    qtbot.waitUntil(lambda: ("benchmark", SMOLLM2, "complete") in panel.outcomes, timeout=WAIT_MS)

    panel.select("absent-7b")
    assert not panel.use_button.isEnabled()  # not installed: nothing to use
    panel.select(SMOLLM2)
    assert panel.use_button.isEnabled()
    qtbot.mouseClick(panel.use_button, Qt.MouseButton.LeftButton)
    assert parts.session.settings.model == SMOLLM2
    assert settings_module.load_settings(app_dirs / "config" / "settings.json").model == SMOLLM2

    qtbot.mouseClick(panel.measure_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.current is not None and panel.current[1] == "benchmark", timeout=WAIT_MS)
    panel.close()
    qtbot.waitUntil(lambda: panel.current is None, timeout=WAIT_MS)
    assert panel.outcomes[-1] == ("benchmark", SMOLLM2, "stopped")
    assert SMOLLM2 not in panel.speeds  # "Measure again" cleared it; the stopped run left nothing
    assert not panel.queue

    # Reopened, it measures again and the window still answers.
    panel = parts.first_run.open()
    qtbot.waitUntil(lambda: panel.outcomes[-1] == ("benchmark", SMOLLM2, "complete"), timeout=WAIT_MS)
    assert panel.recommended == SMOLLM2


def test_an_automatic_model_follows_the_measurement(make_app, qtbot, app_dirs: Path) -> None:
    """Settings.model "" (automatic): the measured recommendation is saved as the model, before the
    engine starts, because it differs from the automatic rule's pick (a bundled Qwen model)."""
    smollm2_path()
    parts = make_app(engine=False, model="")
    entries, bundled = small_catalogue()
    parts.first_run.survey_args = {"entries": entries, "bundled": bundled}
    assert parts.session.model_name() != SMOLLM2  # the automatic rule never picks a test model

    parts.start_first_run()
    panel = parts.first_run.panel
    qtbot.waitUntil(lambda: parts.engine_requested, timeout=WAIT_MS)  # the queue is done
    assert panel.recommended == SMOLLM2
    assert parts.session.settings.model == SMOLLM2
    assert settings_module.load_settings(app_dirs / "config" / "settings.json").model == SMOLLM2
    assert "will answer your questions" in panel.stage.text()
