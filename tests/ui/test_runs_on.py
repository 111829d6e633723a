"""The backend line of the first-run panel and of Help ▸ About, rendered offscreen.

This machine's llama.cpp is a CPU build, so About must say the CPU runs the models. A CUDA engine
cannot run on CI: the panel gets the ModelBenchmarked such an engine sends (its report built by hand)
and must show the GPU, its memory and the layers; the real engine's CPU report reaches the same label in
tests/ui/test_first_run.py.
"""

from __future__ import annotations

from pathlib import Path

from assistant.host.client import Ticket
from assistant.host.messages import Done, ModelBenchmarked
from assistant.models.accelerator import Accelerator, installed_backend
from assistant.protocols import GenerationStats
from assistant.ui.desktop.about import AboutDialog, runs_on_text
from assistant.ui.models.first_run import FirstRunPanel, gpu_line

RTX = Accelerator(backend="CUDA", device="NVIDIA GeForce RTX 4070", vram_mb=12_282, gpu_count=1,
                  offloaded_layers=29, total_layers=29)


def measured(accelerator: Accelerator | None) -> ModelBenchmarked:
    return ModelBenchmarked("m", 0.5, 64, 900.0, 32, 30.0, 2.0, gpu_offload=accelerator is not None,
                            gpu_layers=29 if accelerator else 0, threads=2, accelerator=accelerator)


def benchmarked(request_id: int, accelerator: Accelerator | None) -> Done:
    """The end of a BenchmarkRequest: Done with the measurement."""
    return Done(request_id, "complete", GenerationStats(), result=measured(accelerator))


def test_the_panel_shows_the_gpu_the_engine_reports(make_app, qtbot, tmp_path: Path) -> None:
    parts = make_app(engine=False)  # a real window's controller: the finished queue reads its settings
    panel = FirstRunPanel(parts.controller, parts.actions, tmp_path, entries=[], bundled=[])
    qtbot.addWidget(panel)
    panel.show()
    assert panel.gpu_label.text() == "GPU: reported once a model has been measured"
    panel.current = (Ticket(7, None), "benchmark", "m")  # type: ignore[arg-type]  # the benchmark in flight
    panel._on_event(benchmarked(7, RTX))  # what its handler gets from the engine
    assert panel.gpu_label.text() == (
        "CUDA: NVIDIA GeForce RTX 4070, 12 GB, 29/29 layers offloaded. Threads: 2")
    assert panel.gpu_label.isVisible()


def test_an_engine_without_a_report_still_gets_a_line() -> None:
    assert gpu_line(measured(None)) == (
        "GPU offload: no: this llama.cpp build runs on the CPU. Threads: 2")


def test_about_says_what_this_build_runs_on(qtbot) -> None:
    about = AboutDialog()
    qtbot.addWidget(about)
    about.show()
    text = about.text.toPlainText()
    assert installed_backend() == "CPU"  # the build this project's machines and CI install
    assert "Runs on\n" in text
    assert "Chat models run on the CPU: this llama.cpp build has no GPU backend" in text
    assert "packaging/install.sh --gpu cuda, vulkan or metal" in text
    assert runs_on_text("CUDA").startswith("This llama.cpp build uses CUDA.")
    assert "not found" in runs_on_text(None)
    assert "Now:" not in text  # nothing loaded yet: nothing claimed


def test_about_names_the_loaded_model_and_its_layers(qtbot) -> None:
    """What the engine reported with the last load (a CUDA report as such an engine sends it)."""
    about = AboutDialog(None, ("Qwen 7B", RTX))
    qtbot.addWidget(about)
    assert "Now: Qwen 7B — CUDA: NVIDIA GeForce RTX 4070, 12 GB, 29/29 layers offloaded." in (
        about.text.toPlainText())
    remote = AboutDialog(None, ("Remote: m @ host", None))
    qtbot.addWidget(remote)
    assert "answered by a server" in remote.text.toPlainText()
